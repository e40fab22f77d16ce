use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    let app = &chat_core::App::from_env().await?;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Infallible>(inbox_activity::handler(app, event.payload).await)
    }))
    .await
}
