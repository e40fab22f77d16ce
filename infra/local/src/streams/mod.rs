//! Lambda's event source mappings for DynamoDB streams: the template's `Type: DynamoDB`
//! events, their filters, the records in Lambda's shape, the poller, and the on-failure
//! destination.

pub mod filter;
mod mapping;
mod on_failure;
mod records;
mod sources;

pub use mapping::{client, start};
pub use sources::StreamSource;
