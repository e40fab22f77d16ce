//! HS256 JWTs: the algorithm is pinned, and `iss`, `aud`, `exp`, `iat` and `sub` are required.

use crate::config::Config;
use crate::domain::AGENT_ID;
use crate::domain::UserId;
use crate::error::ApiError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    header: Header,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

const ALGORITHM: Algorithm = Algorithm::HS256;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;

impl TokenKeys {
    /// Keys for `secret` (at least 32 bytes, [`crate::config::check_secret`]) with the issuer,
    /// audience and lifetime of `config`.
    pub fn new(secret: &[u8], config: &Config) -> Self {
        super::hs256::install();
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&config.jwt_issuer]);
        validation.set_audience(&[&config.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // `nbf` is optional (we never set it), but a token that carries one is held to it.
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            header: Header::new(ALGORITHM),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl_seconds: config.token_ttl_seconds,
        }
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    pub fn issue(&self, user: UserId) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + self.ttl_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The caller's id, or 401 for anything but a valid, current token of ours that names someone
    /// who can hold one. Besides the signature, issuer, audience, `exp` and `nbf`: the lifetime
    /// (`exp - iat`) is at most 24 h and `iat` is not in the future, so no token outlives the
    /// longest we issue; the agent never holds a token.
    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        let refused = || ApiError::Unauthorized("invalid or expired token");
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| refused())?;
        let claims = data.claims;
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        if claims.iat > now + LEEWAY_SECONDS
            || claims.exp.saturating_sub(claims.iat) > crate::config::MAX_TOKEN_TTL_SECONDS
        {
            return Err(refused());
        }
        match UserId::parse(&claims.sub) {
            Ok(user) if user != AGENT_ID => Ok(user),
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> TokenKeys {
        let config = Config::from_lookup(|k| match k {
            "JWT_SECRET" => Some("0123456789abcdef0123456789abcdef".into()),
            "TABLE_NAME" => Some("t".into()),
            _ => None,
        })
        .unwrap();
        TokenKeys::new(config.jwt_secret.as_deref().unwrap(), &config)
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        let user = UserId::generate();
        assert_eq!(keys.verify(&keys.issue(user).unwrap()).unwrap(), user);
    }

    #[test]
    fn refuses_other_algorithms_signatures_and_tampering() {
        let keys = keys();
        let token = keys.issue(UserId::generate()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        // alg=none with the same claims
        let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys.verify(&format!("{none}.{}.", parts[1])).is_err());
        // another algorithm with the same secret (signed by hand: this crate's provider signs HS256 only)
        use hmac::Mac;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let signed = format!("{}.{}", b64(br#"{"alg":"HS512","typ":"JWT"}"#), parts[1]);
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        mac.update(signed.as_bytes());
        let hs512 = format!("{signed}.{}", b64(&mac.finalize().into_bytes()));
        assert!(keys.verify(&hs512).is_err());
        // a flipped signature
        parts[2] = parts[2].chars().rev().collect();
        assert!(keys.verify(&parts.join(".")).is_err());
        assert!(keys.verify("garbage").is_err());
    }

    #[test]
    fn refuses_expired_foreign_audience_and_overlong_tokens() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp() as u64;
        let sign = |iat: u64, exp: u64, aud: &str| {
            let claims = Claims {
                sub: UserId::generate().to_string(),
                iat,
                exp,
                iss: "serverless-chat".into(),
                aud: aud.into(),
            };
            jsonwebtoken::encode(&keys.header, &claims, &keys.encoding).unwrap()
        };
        assert!(keys.verify(&sign(now, now + 60, "serverless-chat-api")).is_ok());
        assert!(keys.verify(&sign(now - 7200, now - 3600, "serverless-chat-api")).is_err());
        assert!(keys.verify(&sign(now, now + 60, "someone-else")).is_err());
        assert!(keys.verify(&sign(now, now + 90_000, "serverless-chat-api")).is_err());
    }

    /// Signs arbitrary claims with the deployment's key, as a holder of the secret could.
    fn sign_json(keys: &TokenKeys, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&keys.header, &claims, &keys.encoding).unwrap()
    }

    #[test]
    fn refuses_future_iat_pending_nbf_and_the_agent() {
        let keys = keys();
        let now = chrono::Utc::now().timestamp() as u64;
        let user = UserId::generate().to_string();
        let claims = |sub: &str, iat: u64, exp: u64| serde_json::json!({"sub": sub, "iat": iat, "exp": exp, "iss": "serverless-chat", "aud": "serverless-chat-api"});
        // Issued "in a day" with a one-hour lifetime: would be valid for a day and an hour.
        assert!(keys.verify(&sign_json(&keys, claims(&user, now + 86_400, now + 90_000))).is_err());
        // A little clock skew is tolerated.
        assert!(keys.verify(&sign_json(&keys, claims(&user, now + 20, now + 600))).is_ok());
        let mut pending = claims(&user, now, now + 600);
        pending["nbf"] = serde_json::json!(now + 300);
        assert!(keys.verify(&sign_json(&keys, pending.clone())).is_err());
        pending["nbf"] = serde_json::json!(now - 1);
        assert!(keys.verify(&sign_json(&keys, pending)).is_ok());
        let agent = AGENT_ID.to_string();
        assert!(keys.verify(&sign_json(&keys, claims(&agent, now, now + 600))).is_err());
    }
}
