//! The JWT signing key from AWS Secrets Manager, read once at cold start by the functions that
//! sign or check tokens (`JWT_SECRET_ID`). Not from a CloudFormation dynamic reference: that
//! would put the key in the function's environment, readable with
//! `lambda:GetFunctionConfiguration` and given to every function alike.

use crate::config::{Config, ConfigError, check_secret};

/// The key: `JWT_SECRET` when set (locally, in tests), else the secret `JWT_SECRET_ID` names,
/// else none (functions that never see a token).
pub async fn jwt_key(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(key) = &config.jwt_secret {
        return Ok(Some(key.clone()));
    }
    let Some(id) = &config.jwt_secret_id else { return Ok(None) };
    let text = secret_string(sdk, config.secrets_manager_endpoint.as_deref(), "JWT_SECRET_ID", id).await?;
    check_secret("JWT_SECRET_ID", key_from_secret_string(&text).into_bytes()).map(Some)
}

/// The `SecretString` of the secret `id` (named by the variable `source`), read once at cold
/// start. Errors name the secret and what went wrong, never a value.
pub async fn secret_string(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    source: &'static str,
    id: &str,
) -> Result<String, ConfigError> {
    // Bounded (crate::bounds): a hung Secrets Manager fails the cold start with this error,
    // inside Lambda's 10 s init limit, rather than at it.
    let mut builder = crate::bounds::secrets(aws_sdk_secretsmanager::config::Builder::from(sdk));
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    let client = aws_sdk_secretsmanager::Client::from_conf(builder.build());
    let answer = client.get_secret_value().secret_id(id).send().await.map_err(|e| {
        let why = aws_smithy_types::error::display::DisplayErrorContext(&e);
        ConfigError::Invalid(source, format!("GetSecretValue on {id} failed: {why}"))
    })?;
    answer
        .secret_string()
        .map(str::to_string)
        .ok_or_else(|| ConfigError::Invalid(source, format!("{id} has no SecretString")))
}

/// The template generates `{"secret": "<64 characters>"}`; a plain string is the key itself.
pub fn key_from_secret_string(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(fields)) => match fields.get("secret") {
            Some(serde_json::Value::String(key)) => key.clone(),
            _ => String::new(),
        },
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_json_and_a_plain_string_both_hold_the_key() {
        assert_eq!(key_from_secret_string(r#"{"secret":"abc"}"#), "abc");
        assert_eq!(key_from_secret_string("plain-key"), "plain-key");
        // A JSON object without the field is no key at all (refused as too short).
        assert_eq!(key_from_secret_string(r#"{"other":"abc"}"#), "");
    }
}
