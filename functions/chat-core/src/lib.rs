//! Shared code for the chat functions: configuration, errors, auth, domain types, storage.
//! Each function crate under `functions/` is a thin Lambda around one handler that uses this.

pub mod ai;
pub mod app;
pub mod auth;
pub mod aws;
pub mod bounds;
pub mod config;
pub mod domain;
pub mod error;
pub mod groups;
pub mod http;
mod layers;
pub mod messaging;
pub mod paging;
pub mod realtime;
pub mod routes;
pub mod secrets;
pub mod store;
pub mod streams;
pub mod telemetry;
pub mod views;
pub mod ws;

pub use app::App;
pub use error::{ApiError, ApiResult};
