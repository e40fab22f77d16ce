//! API Gateway's WebSocket API: the route table from the template, the sockets, the events
//! their functions get, and the Management API (`@connections`) on the same port. The state
//! they share ([`WsGateway`]) lives below all of them, in `state.rs`.

mod connections;
mod event;
mod management;
mod routes;
mod server;
mod socket;
mod state;

pub use event::API_ID;
pub use routes::WsApi;
pub use server::{serve, serve_placeholder};
pub use state::WsGateway;
