//! Creates the table `template.yaml` declares, under any name, on a local DynamoDB.

use crate::error::{Error, Result};
use crate::template::TableDefinition;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

/// A client for a local endpoint with throwaway credentials.
pub fn local_client(endpoint: &str) -> Client {
    Client::new(&crate::aws::local_sdk_config(endpoint))
}

fn keys(schema: &[crate::template::KeyElement]) -> Result<Vec<KeySchemaElement>> {
    schema
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| Error::DynamoDb(e.to_string()))
        })
        .collect()
}

pub async fn create_table(client: &Client, name: &str, def: &TableDefinition) -> Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(keys(&def.key_schema)?));
    for attr in &def.attribute_definitions {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&attr.attribute_name)
                .attribute_type(ScalarAttributeType::from(attr.attribute_type.as_str()))
                .build()
                .map_err(|e| Error::DynamoDb(e.to_string()))?,
        );
    }
    for index in &def.global_secondary_indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.projection.non_key_attributes.is_empty()).then(|| index.projection.non_key_attributes.clone()),
            )
            .build();
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(keys(&index.key_schema)?))
                .projection(projection)
                .build()
                .map_err(|e| Error::DynamoDb(e.to_string()))?,
        );
    }
    if let Some(stream) = &def.stream_specification {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .map_err(|e| Error::DynamoDb(e.to_string()))?,
        );
    }
    request.send().await.map_err(|e| {
        Error::DynamoDb(format!("create table {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
    })?;
    if let Some(ttl) = &def.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(|e| Error::DynamoDb(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| {
                Error::DynamoDb(format!("enable TTL on {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            })?;
    }
    Ok(())
}

/// The table's current stream (`None` when streams are off).
pub async fn latest_stream_arn(client: &Client, name: &str) -> Result<Option<String>> {
    let described = client.describe_table().table_name(name).send().await.map_err(|e| {
        Error::DynamoDb(format!("cannot describe table {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
    })?;
    Ok(described.table.and_then(|t| t.latest_stream_arn))
}

/// Creates the table unless it exists; `true` when it was created.
pub async fn ensure_table(client: &Client, name: &str, def: &TableDefinition) -> Result<bool> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(false),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
            create_table(client, name, def).await?;
            Ok(true)
        }
        Err(aws_sdk_dynamodb::error::SdkError::DispatchFailure(failure)) if failure.is_io() || failure.is_timeout() => {
            Err(Error::DynamoDb("cannot connect to DynamoDB".into()))
        }
        Err(err) => Err(Error::DynamoDb(format!(
            "cannot describe table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(err)
        ))),
    }
}
