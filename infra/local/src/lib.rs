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
pub mod fault_proxy;
mod http_api;
mod lambda;
mod secrets_manager;
mod settings;
mod streams;
mod supervisor;
mod template;
mod websocket_api;

pub use aws::http_client;
pub use dynamodb::{LocalDynamoDb, create_table, ensure_table, local_client};
pub use error::{Error, Result};
pub use http_api::RouteTable;
pub use lambda::{Children, FunctionSpec, Pool};
pub use settings::{PASSED_TO_FUNCTIONS, Settings};
pub use streams::{StreamSource, filter};
pub use supervisor::{function_specs, run};
pub use template::{LocalApi, LocalValues, TableDefinition, Template};
pub use websocket_api::WsApi;

use std::path::PathBuf;

/// The repository root (this crate lives in `infra/local`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the project root exists")
}

/// `events/<function>/<case>.json` with its `{{placeholders}}` filled (events/README.md); an
/// error names the file when one is left unfilled.
pub fn fixture(function: &str, case: &str, vars: &[(&str, &str)]) -> Result<String> {
    let path = project_root().join("events").join(function).join(format!("{case}.json"));
    let mut text = std::fs::read_to_string(&path).map_err(|e| Error::Fixture(format!("{}: {e}", path.display())))?;
    for (name, value) in vars {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    match text.find("{{") {
        Some(at) => {
            let near = &text[at..text.len().min(at + 30)];
            Err(Error::Fixture(format!("{} has unfilled placeholders: {near}", path.display())))
        }
        None => Ok(text),
    }
}
