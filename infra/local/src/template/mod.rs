//! Reads what the local stack needs from `template.yaml`: the table definition (`table.rs`),
//! the functions with their binaries and environment, the HTTP routes and CORS, and the values
//! of its intrinsics locally (`values.rs`). The deployed stack and the local one therefore
//! cannot drift apart.

mod table;
mod values;

pub use table::{KeyElement, TableDefinition};
pub use values::{LocalApi, LocalValues};

use crate::error::{Error, Result};
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub struct Template {
    root: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// `None` for the `$default` route.
    pub method: Option<String>,
    pub path: Option<String>,
    pub function: String,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    /// As written (Globals overlaid by the function's own); [`Template::resolve`] gives the values.
    pub environment: BTreeMap<String, Value>,
    /// `Timeout` in seconds (Lambda's default: 3).
    pub timeout_seconds: u64,
    /// `MemorySize` in MB (Lambda's default: 128).
    pub memory_size: u64,
    /// `LoggingConfig.LogFormat` and `.ApplicationLogLevel`, as written.
    pub log_format: Option<Value>,
    pub log_level: Option<Value>,
}

/// The HTTP API's `CorsConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Template(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Template(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| Error::Template(e.to_string()))?;
        Ok(Self { root })
    }

    pub(crate) fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    pub(crate) fn resource(&self, id: &str) -> Option<&Value> {
        self.resources().find(|(name, _)| *name == id).map(|(_, r)| r)
    }

    pub(crate) fn resource_type(&self, id: &str) -> Option<&str> {
        self.resource(id)?.get("Type")?.as_str()
    }

    pub(crate) fn resources_of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
    }

    pub fn functions(&self) -> Vec<Function> {
        let globals = self.root.get("Globals").and_then(|g| g.get("Function"));
        let global_env = globals.map(environment_of).unwrap_or_default();
        self.resources_of_type("AWS::Serverless::Function")
            .filter_map(|(id, resource)| {
                let binary = resource.get("Metadata")?.get("BuildProperties")?.get("Binary")?.as_str()?.to_string();
                let props = resource.get("Properties");
                let mut environment = global_env.clone();
                environment.extend(props.map(environment_of).unwrap_or_default());
                // A function's own property wins over Globals, as in SAM.
                let property = |path: &[&str]| {
                    [props, globals]
                        .into_iter()
                        .flatten()
                        .find_map(|root| path.iter().try_fold(root, |v, key| v.get(key)))
                };
                let number = |key: &str, default: u64| property(&[key]).and_then(Value::as_u64).unwrap_or(default);
                Some(Function {
                    logical_id: id.to_string(),
                    binary,
                    environment,
                    timeout_seconds: number("Timeout", 3),
                    memory_size: number("MemorySize", 128),
                    log_format: property(&["LoggingConfig", "LogFormat"]).cloned(),
                    log_level: property(&["LoggingConfig", "ApplicationLogLevel"]).cloned(),
                })
            })
            .collect()
    }

    /// The HTTP API's CORS configuration (its own, else `Globals.HttpApi`), if any.
    pub fn http_api_cors(&self, locals: &LocalValues) -> Result<Option<Cors>> {
        let own = self
            .resources_of_type("AWS::Serverless::HttpApi")
            .find_map(|(_, r)| r.get("Properties")?.get("CorsConfiguration"));
        let global = self.root.get("Globals").and_then(|g| g.get("HttpApi")).and_then(|h| h.get("CorsConfiguration"));
        let Some(config) = own.or(global) else { return Ok(None) };
        if let Value::Bool(enabled) = config {
            // `CorsConfiguration: true` allows every origin.
            return Ok(enabled.then(|| Cors { allow_origins: vec!["*".into()], ..Cors::default() }));
        }
        let list = |key: &str| -> Result<Vec<String>> {
            match config.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Sequence(items)) => items.iter().map(|v| self.resolve(v, locals)).collect(),
                // A `CommaDelimitedList` parameter.
                Some(other) => Ok(self.resolve(other, locals)?.split(',').map(|s| s.trim().to_string()).collect()),
            }
        };
        let scalar = |key: &str| config.get(key).map(|v| self.resolve(v, locals)).transpose();
        Ok(Some(Cors {
            allow_origins: list("AllowOrigins")?,
            allow_methods: list("AllowMethods")?,
            allow_headers: list("AllowHeaders")?,
            expose_headers: list("ExposeHeaders")?,
            max_age: scalar("MaxAge")?
                .map(|v| v.parse().map_err(|_| Error::Template(format!("CORS MaxAge {v:?} is not a number"))))
                .transpose()?,
            allow_credentials: scalar("AllowCredentials")?.is_some_and(|v| v == "true"),
        }))
    }

    /// Every `HttpApi` event of every function.
    pub fn http_routes(&self) -> Vec<HttpRoute> {
        let mut routes = Vec::new();
        for (id, resource) in self.resources_of_type("AWS::Serverless::Function") {
            let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
            for event in events.into_iter().flat_map(|m| m.values()) {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let props = event.get("Properties");
                let text = |key: &str| props.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_string);
                routes.push(HttpRoute {
                    method: text("Method").map(|m| m.to_uppercase()),
                    path: text("Path"),
                    function: id.to_string(),
                });
            }
        }
        routes
    }
}

/// The name a `!Ref` (or `{Ref: name}`) names.
pub(crate) fn ref_name(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(_) => value.get("Ref")?.as_str(),
        _ => None,
    }
}

/// `(resource, attribute)` of a `!GetAtt Resource.Attribute` (either spelling).
pub(crate) fn get_att(value: &Value) -> Option<(String, String)> {
    let inner = match value {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => &tagged.value,
        Value::Mapping(_) => value.get("Fn::GetAtt")?,
        _ => return None,
    };
    match inner {
        Value::String(text) => text.split_once('.').map(|(r, a)| (r.to_string(), a.to_string())),
        Value::Sequence(items) if items.len() == 2 => {
            Some((items[0].as_str()?.to_string(), items[1].as_str()?.to_string()))
        }
        _ => None,
    }
}

/// The text of a `!Sub` (either spelling, with or without variables), or a plain string.
pub(crate) fn sub_text(value: &Value) -> Option<&str> {
    let inner = match value {
        Value::String(text) => return Some(text),
        Value::Tagged(tagged) if tagged.tag == "Sub" => &tagged.value,
        Value::Mapping(_) => value.get("Fn::Sub")?,
        _ => return None,
    };
    match inner {
        Value::String(text) => Some(text),
        Value::Sequence(items) => items.first()?.as_str(),
        _ => None,
    }
}

fn environment_of(props: &Value) -> BTreeMap<String, Value> {
    let vars = props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
    vars.into_iter().flat_map(|m| m.iter()).filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone()))).collect()
}
