//! Lambda: each function a pool of processes, each process with its own Runtime API.

mod pool;
mod runtime_api;

pub use pool::{Children, Failure, FunctionSpec, Pool};
