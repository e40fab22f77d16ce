// lambda_runtime's service stack over this event type nests deeper than the default limit.
#![recursion_limit = "256"]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    let app = chat_core::App::from_env().await?;
    run(service_fn(|event: LambdaEvent<chat_core::ws::WsEvent>| async {
        Ok::<_, Infallible>(ws_default::handler(&app, event.payload).await)
    }))
    .await
}
