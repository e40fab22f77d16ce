//! The pieces of the local stack that tests share with `./infra/dev`: reading `template.yaml`,
//! running moto as the local DynamoDB, and creating the table the template declares.

pub mod moto;
pub mod table;
pub mod template;

use std::path::PathBuf;

/// The repository root (this crate lives in `infra/local`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the project root exists")
}
