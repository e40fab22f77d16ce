//! The state every part of the WebSocket API shares: the route table, the functions, the open
//! connections and API Gateway's limits. Below the server, the sockets and `@connections`,
//! which all use it, so that none of them imports another back.

use super::connections::Connections;
use super::event::Answer;
use super::routes::{WsApi, WsRoute};
use crate::lambda::Pool;
use crate::secrets_manager;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub struct WsGateway {
    pub api: WsApi,
    /// By logical id.
    pub pools: HashMap<String, Arc<Pool>>,
    pub connections: Connections,
    /// API Gateway's idle timeout (10 min) and connection lifetime (2 h).
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// Added before every `@connections` request (`WS_POST_LATENCY_MS`).
    pub post_latency: Duration,
    /// Secrets Manager's `GetSecretValue`, on the same port (`SECRETS_MANAGER_ENDPOINT`).
    pub secrets: secrets_manager::Secrets,
    pub port: u16,
}

impl WsGateway {
    /// Runs the route's function to the end (even if the client goes away, as on AWS). `None`
    /// when it failed; the note says how, for the log line.
    pub async fn invoke(&self, route: &WsRoute, event: Value) -> (Option<Answer>, String) {
        let pool = self.pools[&route.function].clone();
        let name = pool.spec().binary.clone();
        let event = Bytes::from(serde_json::to_vec(&event).expect("an event serializes"));
        match pool.invoke_to_end(event).await {
            Ok(invoked) => {
                let cold = invoked.cold_note();
                match Answer::parse(&invoked.payload) {
                    Ok(answer) => (Some(answer), format!(" ({name}{cold})")),
                    Err(why) => (None, format!(" ({name}{cold}: invalid response: {why})")),
                }
            }
            Err(failure) => (None, format!(" ({name}: {failure})")),
        }
    }
}
