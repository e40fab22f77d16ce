use lambda_http::{Error, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    run(service_fn(|req| async { Ok::<_, Infallible>(route_fallback::handler(req).await) })).await
}
