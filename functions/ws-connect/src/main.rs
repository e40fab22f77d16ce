#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    chat_core::ws::run(ws_connect::handler).await
}
