//! API Gateway's HTTP API: the route table from the template, the payload 2.0 event, CORS, and
//! the server that puts them together in front of Lambda.

mod cors;
mod event;
mod routes;
mod server;

pub use event::{API_ID, request_id};
pub use routes::RouteTable;
pub use server::{Gateway, envelope, serve};
