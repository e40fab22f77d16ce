//! The API's tests, in one binary (see Cargo.toml). Each module covers one function.

mod ai;
mod auth;
mod auth_login;
mod auth_register;
mod capacity;
mod common;
mod contract_gaps;
mod conversations_create;
mod conversations_history;
mod conversations_list;
mod conversations_members;
mod conversations_read;
mod faults;
mod fixtures;
mod hostile_input;
mod inbox_activity;
mod logs;
mod messages_send;
mod openapi;
mod realtime;
mod redelivery;
mod registry;
mod round_trips;
mod route_fallback;
mod users_get;
mod users_list;
