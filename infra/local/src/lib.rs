//! The pieces of the local stack that tests share with `./infra/dev`: reading `template.yaml`,
//! running moto as the local DynamoDB, and creating the table the template declares; and
//! `local-gateway`, the local API Gateway and Lambda (docs/local-stack.md).

pub mod cors;
pub mod event;
pub mod functions;
pub mod gateway;
pub mod http_gateway;
pub mod moto;
pub mod routes;
pub mod runtime_api;
pub mod settings;
pub mod table;
pub mod template;

use std::path::PathBuf;

/// The repository root (this crate lives in `infra/local`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the project root exists")
}
