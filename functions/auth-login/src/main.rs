#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chat_core::http::run(auth_login::handler).await
}
