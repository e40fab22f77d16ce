//! Structured logs: JSON lines on Lambda, honouring `AWS_LAMBDA_LOG_LEVEL`/`RUST_LOG`.
//!
//! Each JSON line carries the fields Lambda's advanced logging reads: `timestamp` (RFC 3339,
//! UTC), `level` and `message`. Lambda treats a JSON line without a valid `timestamp` as INFO
//! and filters on that, so with `LogLevel=WARN` a line without one (errors included) would be
//! dropped.

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::prelude::*;

pub fn init() {
    let lookup = |key: &str| std::env::var(key).ok();
    // A second call (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber(lookup, std::io::stdout));
}

/// The subscriber [`init`] installs, configured through `lookup` and writing to `writer`.
pub fn subscriber<W>(lookup: impl Fn(&str) -> Option<String>, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = lookup("AWS_LAMBDA_LOG_LEVEL").or_else(|| lookup("RUST_LOG")).unwrap_or_else(|| "info".into());
    // `Targets` takes `level` or `target=level,...` like RUST_LOG, without the regex engine that
    // `EnvFilter` links into every binary. Lambda's FATAL is tracing's ERROR.
    let level = level.to_lowercase().replace("fatal", "error");
    let filter = level.parse::<Targets>().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO));
    let text = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("text"));
    // `SystemTime` prints RFC 3339 in UTC (`2026-12-06T17:20:00.123456Z`), as Lambda expects.
    let builder = tracing_subscriber::fmt().with_target(false).with_timer(SystemTime).with_writer(writer);
    if text {
        Box::new(builder.with_ansi(false).finish().with(filter))
    } else {
        Box::new(builder.json().flatten_event(true).finish().with(filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// The exact shape Lambda's log-level filtering reads: a valid `timestamp`, a `level` it
    /// knows, and the `message`, on one JSON line per event.
    #[test]
    fn json_lines_carry_the_timestamp_and_level_lambda_filters_on() {
        let lines = Lines::default();
        let env = |key: &str| (key == "AWS_LAMBDA_LOG_LEVEL").then(|| "WARN".to_string());
        let subscriber = subscriber(env, lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("filtered out at WARN");
            tracing::warn!(table = "chat", "dependency unavailable");
            tracing::error!("request failed");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        for (line, level) in lines.iter().zip(["WARN", "ERROR"]) {
            assert_eq!(line["level"], level, "{line}");
            let timestamp = line["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {line}"));
            assert!(timestamp.ends_with('Z'), "{timestamp}");
            let at = chrono::DateTime::parse_from_rfc3339(timestamp).unwrap_or_else(|e| panic!("{timestamp}: {e}"));
            assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 60, "{timestamp}");
        }
        assert_eq!(lines[0]["message"], "dependency unavailable");
        assert_eq!(lines[0]["table"], "chat");
        assert_eq!(lines[1]["message"], "request failed");
    }
}
