//! The whole HTTP API locally: API Gateway and Lambda emulated, dynoxide as DynamoDB.
//! Run through `./infra/dev`; settings and behaviour: docs/local-stack.md.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let result = match local_stack::Settings::from_env() {
        Ok(settings) => local_stack::run(settings).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
