//! What every function builds once at cold start: configuration, SDK clients, token keys.

use crate::auth::{Passwords, TokenKeys};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::realtime::Realtime;
use crate::store::Store;
use std::time::Instant;

pub struct App {
    pub config: Config,
    pub store: Store,
    /// Absent in the functions that never see a token (no key is configured for them).
    tokens: Option<TokenKeys>,
    pub passwords: Passwords,
    /// Absent when no WebSocket endpoint is configured: messages are stored but not pushed.
    pub realtime: Option<Realtime>,
}

impl App {
    /// Reads the configuration and builds every client. The only network call is reading the
    /// JWT key from Secrets Manager, in the functions configured with `JWT_SECRET_ID`.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        Ok(Self::from_env_with(|_| Ok(())).await?.0)
    }

    /// [`Self::from_env`], plus whatever `extra` builds from the same AWS configuration (the AI
    /// agent's model). Logs what each step took (`init_*_us`, read by `infra/coldstart`).
    pub async fn from_env_with<T>(
        extra: impl FnOnce(&aws_config::SdkConfig) -> Result<T, lambda_runtime::Error>,
    ) -> Result<(Self, T), lambda_runtime::Error> {
        let started = Instant::now();
        let mut config = Config::from_env()?;
        let config_done = started.elapsed();
        let sdk = crate::aws::sdk_config_from_env()?;
        let sdk_done = started.elapsed();
        config.jwt_secret = crate::secrets::jwt_key(&sdk, &config).await?;
        let secret_done = started.elapsed();
        let app = Self::from_sdk(config, &sdk);
        let extra = extra(&sdk)?;
        let clients_done = started.elapsed();
        tracing::info!(
            init_config_us = config_done.as_micros() as u64,
            init_sdk_config_us = (sdk_done - config_done).as_micros() as u64,
            init_secret_us = (secret_done - sdk_done).as_micros() as u64,
            init_clients_us = (clients_done - secret_done).as_micros() as u64,
            "initialized"
        );
        Ok((app, extra))
    }

    /// Builds every client from an already loaded AWS configuration (shared with other clients,
    /// such as the AI agent's model).
    pub fn from_sdk(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        // Bounded: a hung DynamoDB answers 503 within crate::bounds, not at the function's timeout.
        let mut dynamodb = crate::bounds::dynamodb(aws_sdk_dynamodb::config::Builder::from(sdk));
        if let Some(endpoint) = &config.dynamodb_endpoint {
            dynamodb = dynamodb.endpoint_url(endpoint);
        }
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb.build()), config.table_name.clone());
        let realtime = config.websocket_endpoint.as_ref().map(|endpoint| {
            // The management endpoint comes from configuration, never from the request's domain
            // name, which is wrong behind a custom domain.
            let management = crate::bounds::management(
                aws_sdk_apigatewaymanagement::config::Builder::from(sdk).endpoint_url(endpoint),
            )
            .build();
            Realtime::new(aws_sdk_apigatewaymanagement::Client::from_conf(management), config.fanout_concurrency)
        });
        Self::with_clients(config, store, realtime)
    }

    /// For tests and tools that build their own clients.
    pub fn with_clients(config: Config, store: Store, realtime: Option<Realtime>) -> Self {
        let tokens = config.jwt_secret.as_deref().map(|secret| TokenKeys::new(secret, &config));
        Self { config, store, tokens, passwords: Passwords::default(), realtime }
    }

    /// The token keys; a function deployed without a key that is asked to use one is a
    /// deployment mistake (500, logged), never a 401 that would blame the caller.
    pub fn tokens(&self) -> ApiResult<&TokenKeys> {
        self.tokens
            .as_ref()
            .ok_or_else(|| ApiError::internal("no JWT key is configured for this function (JWT_SECRET_ID)"))
    }

    pub fn with_store(config: Config, store: Store) -> Self {
        Self::with_clients(config, store, None)
    }
}
