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
    /// Literal values; intrinsic ones (`!Ref`, `!Sub`, ...) are `None` and set by the local stack.
    pub environment: BTreeMap<String, Option<String>>,
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

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn resources_of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
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
        let global_env = self
            .root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .map(environment_of)
            .unwrap_or_default();
        self.resources_of_type("AWS::Serverless::Function")
            .filter_map(|(id, resource)| {
                let binary = resource.get("Metadata")?.get("BuildProperties")?.get("Binary")?.as_str()?.to_string();
                let mut environment = global_env.clone();
                if let Some(props) = resource.get("Properties") {
                    environment.extend(environment_of(props));
                }
                Some(Function { logical_id: id.to_string(), binary, environment })
            })
            .collect()
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
                routes.push(HttpRoute { method: text("Method").map(|m| m.to_uppercase()), path: text("Path"), function: id.to_string() });
            }
        }
        routes
    }
}

fn environment_of(props: &Value) -> BTreeMap<String, Option<String>> {
    let vars = props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
    vars.into_iter()
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            Some((k.as_str()?.to_string(), value))
        })
        .collect()
}
