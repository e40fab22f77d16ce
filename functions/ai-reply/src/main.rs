use aws_lambda_events::event::dynamodb::Event;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::Agent;
use chat_core::config::Config;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::convert::Infallible;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    let started = Instant::now();
    let config = (Config::from_env()?, AiConfig::from_env()?);
    let config_done = started.elapsed();
    // One AWS configuration for every client: DynamoDB, the Management API, Bedrock.
    let sdk = chat_core::aws::sdk_config_from_env()?;
    let sdk_done = started.elapsed();
    let app = chat_core::App::from_sdk(config.0, &sdk);
    let agent = Agent::from_config(config.1, &sdk)?;
    let clients_done = started.elapsed();
    // The same fields as `App::from_env`'s line (infra/coldstart reads them).
    tracing::info!(
        provider = ?agent.model.provider(),
        init_config_us = config_done.as_micros() as u64,
        init_sdk_config_us = (sdk_done - config_done).as_micros() as u64,
        init_clients_us = (clients_done - sdk_done).as_micros() as u64,
        "initialized"
    );
    let (app, agent) = (&app, &agent);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let deadline = event.context.deadline();
        Ok::<_, Infallible>(ai_reply::handler(app, agent, event.payload, deadline).await)
    }))
    .await
}
