use aws_lambda_events::event::dynamodb::Event;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::Agent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    // One AWS configuration for every client: DynamoDB, the Management API, Bedrock.
    let (app, agent) = chat_core::App::from_env_with(|sdk| Ok(Agent::from_config(AiConfig::from_env()?, sdk)?)).await?;
    tracing::info!(provider = ?agent.model.provider(), "AI agent ready");
    let (app, agent) = (&app, &agent);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let deadline = event.context.deadline();
        Ok::<_, Infallible>(ai_reply::handler(app, agent, event.payload, deadline).await)
    }))
    .await
}
