use lambda_http::{Error, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    let app = chat_core::App::from_env().await?;
    run(service_fn(|req| async { Ok::<_, Infallible>(conversations_create::handler(&app, req).await) })).await
}
