//! The table `template.yaml` declares, as DynamoDB's CreateTable takes it.

use super::Template;
use crate::error::{Error, Result};
use serde::Deserialize;

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
    /// The single `AWS::DynamoDB::Table`.
    pub fn table(&self) -> Result<TableDefinition> {
        let mut tables = self.resources_of_type("AWS::DynamoDB::Table");
        let (_, table) =
            tables.next().ok_or_else(|| Error::Template("template declares no AWS::DynamoDB::Table".into()))?;
        if tables.next().is_some() {
            return Err(Error::Template("template declares more than one table".into()));
        }
        let props =
            table.get("Properties").cloned().ok_or_else(|| Error::Template("table has no Properties".into()))?;
        serde_yaml_ng::from_value(props).map_err(|e| Error::Template(format!("table definition: {e}")))
    }
}
