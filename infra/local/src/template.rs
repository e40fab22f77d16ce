//! Reads what the local stack needs from `template.yaml`: the table definition, the functions
//! with their binaries and environment, and the HTTP routes. The deployed stack and the local
//! one therefore cannot drift apart.

use serde::Deserialize;
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

/// What the local stack stands in for the deployed stack's intrinsic values.
#[derive(Debug, Clone)]
pub struct LocalValues {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// `!Ref` of the table.
    pub table_name: String,
    /// Every `{{resolve:secretsmanager:...}}` (the template's only secret is the JWT key).
    pub secret: String,
    /// Where the AWS APIs the functions call are served (Secrets Manager; `@connections` too).
    pub aws_endpoint: String,
    /// The APIs served locally.
    pub apis: Vec<LocalApi>,
}

/// An API of the template as the local stack serves it.
#[derive(Debug, Clone)]
pub struct LocalApi {
    pub logical_id: String,
    /// What `!Ref` of the API gives (an API id on AWS).
    pub api_id: String,
    /// Where it is served, `http://127.0.0.1:<port>`.
    pub url: String,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub time_to_live_specification: Option<TimeToLive>,
    pub stream_specification: Option<StreamSpecification>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    pub stream_view_type: String,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
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

    /// The single `AWS::DynamoDB::Table`.
    pub fn table(&self) -> Result<TableDefinition, String> {
        let mut tables = self.resources_of_type("AWS::DynamoDB::Table");
        let (_, table) = tables.next().ok_or("template declares no AWS::DynamoDB::Table")?;
        if tables.next().is_some() {
            return Err("template declares more than one table".into());
        }
        let props = table.get("Properties").cloned().ok_or("table has no Properties")?;
        serde_yaml_ng::from_value(props).map_err(|e| format!("table definition: {e}"))
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
    pub fn http_api_cors(&self, locals: &LocalValues) -> Result<Option<Cors>, String> {
        let own = self
            .resources_of_type("AWS::Serverless::HttpApi")
            .find_map(|(_, r)| r.get("Properties")?.get("CorsConfiguration"));
        let global = self.root.get("Globals").and_then(|g| g.get("HttpApi")).and_then(|h| h.get("CorsConfiguration"));
        let Some(config) = own.or(global) else { return Ok(None) };
        if let Value::Bool(enabled) = config {
            // `CorsConfiguration: true` allows every origin.
            return Ok(enabled.then(|| Cors { allow_origins: vec!["*".into()], ..Cors::default() }));
        }
        let list = |key: &str| -> Result<Vec<String>, String> {
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
                .map(|v| v.parse().map_err(|_| format!("CORS MaxAge {v:?} is not a number")))
                .transpose()?,
            allow_credentials: scalar("AllowCredentials")?.is_some_and(|v| v == "true"),
        }))
    }

    /// The value CloudFormation would give `value` in the local stack: literals as written,
    /// `!Ref`/`!Sub` of parameters (their defaults), pseudo parameters, the table and the
    /// secret. Anything else is an error naming what cannot be resolved.
    pub fn resolve(&self, value: &Value, locals: &LocalValues) -> Result<String, String> {
        self.resolve_optional(value, locals)?.ok_or_else(|| "AWS::NoValue where a value is needed".into())
    }

    /// `None` for `AWS::NoValue` (a property or variable left unset), which `!If` may choose.
    pub fn resolve_optional(&self, value: &Value, locals: &LocalValues) -> Result<Option<String>, String> {
        match value {
            Value::Tagged(tagged) if tagged.tag == "If" => {
                let (name, then, otherwise) = match tagged.value.as_sequence().map(Vec::as_slice) {
                    Some([Value::String(name), then, otherwise]) => (name, then, otherwise),
                    _ => return Err("!If takes [condition, value if true, value if false]".into()),
                };
                let chosen = if self.condition(name, locals)? { then } else { otherwise };
                self.resolve_optional(chosen, locals)
            }
            Value::Tagged(tagged) if tagged.tag == "Ref" && tagged.value.as_str() == Some("AWS::NoValue") => Ok(None),
            _ => self.resolve_value(value, locals).map(|text| Some(localize_api_urls(text, locals))),
        }
    }

    /// A condition of the template's `Conditions`, with parameters at their defaults.
    fn condition(&self, name: &str, locals: &LocalValues) -> Result<bool, String> {
        let value = self
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| format!("no condition {name} in the template"))?;
        self.evaluate(value, locals)
    }

    fn evaluate(&self, value: &Value, locals: &LocalValues) -> Result<bool, String> {
        let Value::Tagged(tagged) = value else { return Err(format!("{value:?} is not a condition")) };
        let args = tagged.value.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match (tagged.tag.to_string().trim_start_matches('!'), args) {
            ("Equals", [a, b]) => Ok(self.resolve(a, locals)? == self.resolve(b, locals)?),
            ("Not", [c]) => Ok(!self.evaluate(c, locals)?),
            ("And", conditions) => conditions.iter().try_fold(true, |all, c| Ok(all && self.evaluate(c, locals)?)),
            ("Or", conditions) => conditions.iter().try_fold(false, |any, c| Ok(any || self.evaluate(c, locals)?)),
            ("Condition", _) => self.condition(tagged.value.as_str().ok_or("!Condition takes a name")?, locals),
            (tag, _) => Err(format!("condition !{tag} is not supported locally")),
        }
    }

    fn resolve_value(&self, value: &Value, locals: &LocalValues) -> Result<String, String> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                self.resolve_ref(tagged.value.as_str().ok_or("!Ref takes a name")?, locals)?
            }
            Value::Tagged(tagged) if tagged.tag == "Sub" => return self.resolve_sub(&tagged.value, locals),
            Value::Tagged(tagged) if tagged.tag == "Select" => {
                let (index, list) = match tagged.value.as_sequence().map(Vec::as_slice) {
                    Some([index, list]) => (index, list),
                    _ => return Err("!Select takes [index, list]".into()),
                };
                let index: usize = self.resolve(index, locals)?.parse().map_err(|_| "!Select takes a number index")?;
                let list = self.resolve_list(list, locals)?;
                list.get(index)
                    .cloned()
                    .ok_or_else(|| format!("!Select index {index} is past the list's {}", list.len()))?
            }
            Value::Mapping(m) if m.len() == 1 && value.get("Ref").is_some() => {
                self.resolve_ref(value.get("Ref").and_then(Value::as_str).ok_or("Ref takes a name")?, locals)?
            }
            Value::Mapping(m) if m.len() == 1 && value.get("Fn::Sub").is_some() => {
                return self.resolve_sub(&value["Fn::Sub"], locals);
            }
            Value::Tagged(tagged) => return Err(format!("{} is not supported locally", tagged.tag)),
            other => return Err(format!("{other:?} is not supported locally")),
        };
        resolve_dynamic_references(&text, locals)
    }

    /// A list: literal items, or `!Split [delimiter, string]`.
    fn resolve_list(&self, value: &Value, locals: &LocalValues) -> Result<Vec<String>, String> {
        match value {
            Value::Sequence(items) => items.iter().map(|item| self.resolve(item, locals)).collect(),
            Value::Tagged(tagged) if tagged.tag == "Split" => match tagged.value.as_sequence().map(Vec::as_slice) {
                Some([delimiter, text]) => {
                    let delimiter = self.resolve(delimiter, locals)?;
                    Ok(self.resolve(text, locals)?.split(delimiter.as_str()).map(str::to_string).collect())
                }
                _ => Err("!Split takes [delimiter, string]".into()),
            },
            other => Err(format!("{other:?} is not a list the local stack resolves")),
        }
    }

    fn resolve_ref(&self, name: &str, locals: &LocalValues) -> Result<String, String> {
        match name {
            "AWS::StackName" => return Ok(locals.stack_name.clone()),
            "AWS::Region" => return Ok(locals.region.clone()),
            "AWS::AccountId" => return Ok(locals.account_id.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        if let Some(param) = self.root.get("Parameters").and_then(|p| p.get(name)) {
            let default = param.get("Default").ok_or_else(|| format!("parameter {name} has no Default"))?;
            return self.resolve(default, locals);
        }
        match self.resources().find(|(id, _)| *id == name).and_then(|(_, r)| r.get("Type")?.as_str()) {
            Some("AWS::DynamoDB::Table") => Ok(locals.table_name.clone()),
            Some("AWS::SecretsManager::Secret") => {
                Ok(format!("arn:aws:secretsmanager:{}:{}:secret:{name}", locals.region, locals.account_id))
            }
            Some("AWS::ApiGatewayV2::Api" | "AWS::Serverless::HttpApi") => locals
                .apis
                .iter()
                .find(|api| api.logical_id == name)
                .map(|api| api.api_id.clone())
                .ok_or_else(|| format!("!Ref {name}: the API is not served locally")),
            Some(kind) => Err(format!("!Ref {name} ({kind}) has no local value")),
            None => Err(format!("!Ref {name}: no such parameter or resource")),
        }
    }

    fn resolve_sub(&self, value: &Value, locals: &LocalValues) -> Result<String, String> {
        let (template, vars) = match value {
            Value::String(s) => (s.as_str(), None),
            Value::Sequence(items) if items.len() == 2 => {
                (items[0].as_str().ok_or("!Sub takes a string")?, items[1].as_mapping())
            }
            _ => return Err("!Sub takes a string or [string, variables]".into()),
        };
        let mut out = String::new();
        let mut rest = template;
        // One pass over both `${...}` and `{{resolve:...}}`, in the order they come.
        loop {
            let sub = rest.find("${");
            let dynamic = rest.find("{{resolve:");
            let start = match (sub, dynamic) {
                (None, None) => break,
                (Some(s), Some(d)) => s.min(d),
                (Some(s), None) => s,
                (None, Some(d)) => d,
            };
            out.push_str(&rest[..start]);
            if Some(start) == dynamic {
                let end = rest[start..].find("}}").ok_or("unclosed {{resolve: in !Sub")? + start;
                out.push_str(&dynamic_reference(&rest[start + 2..end], locals)?);
                rest = &rest[end + 2..];
                continue;
            }
            let end = rest[start..].find('}').ok_or("unclosed ${ in !Sub")? + start;
            let name = &rest[start + 2..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.resolve(v, locals)?);
            } else if name.contains('.') {
                return Err(format!("${{{name}}} (an attribute) has no local value"));
            } else {
                out.push_str(&self.resolve_ref(name, locals)?);
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
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

/// `https://{api id}.execute-api.{region}.amazonaws.com` (and `wss://`) becomes the API's local
/// URL: the management endpoint the template builds with `!Sub` must reach the local API.
fn localize_api_urls(mut text: String, locals: &LocalValues) -> String {
    for api in &locals.apis {
        let host = format!("{}.execute-api.{}.amazonaws.com", api.api_id, locals.region);
        let ws_url = api.url.replacen("http://", "ws://", 1);
        text = text.replace(&format!("https://{host}"), &api.url).replace(&format!("wss://{host}"), &ws_url);
    }
    text
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

/// `{{resolve:secretsmanager:...}}` in a literal becomes the local secret.
fn resolve_dynamic_references(text: &str, locals: &LocalValues) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{resolve:") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or("unclosed {{resolve:")? + start;
        out.push_str(&dynamic_reference(&rest[start + 2..end], locals)?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `resolve:secretsmanager:...` is the local secret; other services are not emulated.
fn dynamic_reference(reference: &str, locals: &LocalValues) -> Result<String, String> {
    if reference.starts_with("resolve:secretsmanager:") {
        Ok(locals.secret.clone())
    } else {
        Err(format!("{{{{{reference}}}}} has no local value"))
    }
}
