//! argon2id with the OWASP parameters (m = 19 MiB, t = 2, p = 1).

use crate::domain::Password;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC hash of a random throwaway password with the same parameters. Checking an unknown
/// email against it costs the same as checking a real account, so timing reveals nothing.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$2D3RLZ3GzMcJ3hFXe8pmr2Cr3sxDeUsgIsbtSItx8DU";

pub fn hash_password(password: &Password) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2 hashing failed: {e}"))
}

#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Match,
    Mismatch,
}

/// Verifies against `stored`, or against the dummy hash when there is no account.
pub fn verify_password(password: &str, stored: Option<&str>) -> PasswordCheck {
    let known = stored.is_some();
    let parsed = PasswordHash::new(stored.unwrap_or(DUMMY_HASH))
        .or_else(|_| PasswordHash::new(DUMMY_HASH))
        .expect("dummy hash is a valid PHC string");
    let ok = hasher().verify_password(password.as_bytes(), &parsed).is_ok();
    if ok && known { PasswordCheck::Match } else { PasswordCheck::Mismatch }
}

/// Hashing and checking off the async workers (argon2 is deliberately slow), counting every
/// check: the count is how tests prove that a login for an unknown email did the same work as
/// one with a wrong password. One per `App`, so parallel tests do not share it.
#[derive(Debug, Clone, Default)]
pub struct Passwords {
    checks: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Passwords {
    pub async fn hash(&self, password: Password) -> Result<String, crate::ApiError> {
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(crate::ApiError::internal)?
            .map_err(crate::ApiError::internal)
    }

    /// [`verify_password`]: a full argon2 verification whether or not `stored` is known.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<PasswordCheck, crate::ApiError> {
        let checks = self.checks.clone();
        tokio::task::spawn_blocking(move || {
            let check = verify_password(&password, stored.as_deref());
            checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            check
        })
        .await
        .map_err(crate::ApiError::internal)
    }

    /// How many verifications ran to the end.
    pub fn checks(&self) -> u64 {
        self.checks.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let password = Password::parse("correct horse battery".into()).unwrap();
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(verify_password("correct horse battery", Some(&hash)), PasswordCheck::Match);
        assert_eq!(verify_password("wrong horse battery", Some(&hash)), PasswordCheck::Mismatch);
        assert_eq!(verify_password("correct horse battery", None), PasswordCheck::Mismatch);
    }

    #[test]
    fn dummy_hash_has_the_same_cost() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19 * 1024, 2, 1));
        assert_eq!(parsed.hash.map(|h| h.len()), Some(Params::DEFAULT_OUTPUT_LEN));
    }
}
