//! Structured logs: JSON lines on Lambda, honouring `AWS_LAMBDA_LOG_LEVEL`/`RUST_LOG`.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level =
        std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).without_time();
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if text { builder.with_ansi(false).try_init() } else { builder.json().flatten_event(true).try_init() };
}
