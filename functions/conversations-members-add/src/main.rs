#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chat_core::http::run(conversations_members_add::handler).await
}
