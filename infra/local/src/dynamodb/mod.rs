//! DynamoDB: the local one (dynoxide, in this process) and the table `template.yaml` declares.

mod local;
mod table;

pub use local::LocalDynamoDb;
pub use table::{create_table, ensure_table, latest_stream_arn, local_client};
