use aws_lambda_events::event::dynamodb::Event;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::Agent;
use chat_core::secrets::secret_string;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), Error> {
    chat_core::telemetry::init();
    // One AWS configuration for every client: DynamoDB, the Management API, Bedrock.
    let (app, sdk) = chat_core::App::from_env_with(|sdk| Ok(sdk.clone())).await?;
    let mut ai = AiConfig::from_env()?;
    // The OpenAI-compatible endpoint's key, from Secrets Manager (never in the environment).
    if let (None, Some(id)) = (&ai.openai_api_key, &ai.openai_api_key_secret_id) {
        let endpoint = app.config.secrets_manager_endpoint.as_deref();
        ai.openai_api_key = Some(secret_string(&sdk, endpoint, "OPENAI_API_KEY_SECRET_ID", id).await?);
    }
    let agent = Agent::from_config(ai, &sdk)?;
    tracing::info!(provider = ?agent.model.provider(), "AI agent ready");
    let (app, agent) = (&app, &agent);
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let deadline = event.context.deadline();
        Ok::<_, Infallible>(ai_reply::handler(app, agent, event.payload, deadline).await)
    }))
    .await
}
