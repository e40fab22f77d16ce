//! Structured logs: JSON lines on Lambda, honouring `AWS_LAMBDA_LOG_LEVEL`/`RUST_LOG`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

pub fn init() {
    let level =
        std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    // `Targets` takes `level` or `target=level,...` like RUST_LOG, without the regex engine that
    // `EnvFilter` links into every binary. Lambda's FATAL is tracing's ERROR.
    let level = level.to_lowercase().replace("fatal", "error");
    let filter = level.parse::<Targets>().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt().with_target(false).without_time();
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if text {
        builder.with_ansi(false).finish().with(filter).try_init()
    } else {
        builder.json().flatten_event(true).finish().with(filter).try_init()
    };
}
