//! Password hashing and bearer tokens.

mod password;
mod token;

pub use password::{hash_password, verify_password, PasswordCheck};
pub use token::{Claims, TokenKeys};
