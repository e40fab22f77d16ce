//! The local stack (docs/local-stack.md): `local-gateway` serves the template's HTTP API, its
//! WebSocket API with `@connections`, Lambda and its DynamoDB stream event sources on a local
//! DynamoDB (dynoxide). The tests and `./infra/dev` share its pieces: reading `template.yaml`,
//! serving the local DynamoDB and creating the table the template declares.
//!
//! Each private module is a room named after what it emulates; this file is the whole public
//! surface: what `local-gateway`, the benchmarks and the tests use.

mod aws;
mod dynamodb;
mod error;
// A module, not names: the tests crate hands it on whole (`chat_tests::fault_proxy`).
pub mod fault_proxy;
mod http_api;
mod lambda;
mod project;
mod secrets_manager;
mod settings;
mod streams;
mod supervisor;
mod template;
mod websocket_api;

pub use dynamodb::{LocalDynamoDb, create_table, ensure_table, local_client};
pub use error::{Error, Result};
pub use http_api::RouteTable;
pub use lambda::{Children, FunctionSpec, Pool};
pub use project::{fixture, project_root};
pub use settings::{PASSED_TO_FUNCTIONS, Settings};
pub use streams::{StreamSource, filter};
pub use supervisor::{function_specs, run};
pub use template::{LocalApi, LocalValues, TableDefinition, Template};
pub use websocket_api::WsApi;
