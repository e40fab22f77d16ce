//! The API's tests, in one binary (see Cargo.toml). Each module covers one function.

mod auth;
