//! Password hashing and bearer tokens.

mod hs256;
mod password;
mod token;

pub use password::{PasswordCheck, Passwords, hash_password, verify_password};
pub use token::{Claims, TokenKeys};
