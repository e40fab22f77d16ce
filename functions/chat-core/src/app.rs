//! What every HTTP function builds once at cold start.

use crate::auth::TokenKeys;
use crate::config::{Config, ConfigError};
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub tokens: TokenKeys,
}

impl App {
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::from_config(Config::from_env()?).await)
    }

    pub async fn from_config(config: Config) -> Self {
        let store = Store::from_config(&config).await;
        Self::with_store(config, store)
    }

    /// For tests and tools that build their own DynamoDB client.
    pub fn with_store(config: Config, store: Store) -> Self {
        let tokens = TokenKeys::from_config(&config);
        Self { config, store, tokens }
    }
}
