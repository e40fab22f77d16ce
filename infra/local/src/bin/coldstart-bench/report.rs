//! The bench's report: medians per function, the spread, the init steps and the machine.

use crate::Sample;
use std::collections::BTreeMap;
use std::path::Path;

/// Process start to first response at most this long (issue 7; Rust's published no-SDK init is
/// about 14 ms).
const TARGET_MS: f64 = 15.0;
/// Exec to the first `next` at most this many instructions for a function with SDK clients
/// (issue 18: five times the no-SDK floor).
const TARGET_INSTRUCTIONS: f64 = 3e6;

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

fn ms(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.1}"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cores} cores, {cpu}, {}", std::env::consts::ARCH)
}

pub fn markdown(
    samples: &BTreeMap<String, Vec<Sample>>,
    instructions: &BTreeMap<String, u64>,
    bin_dir: &Path,
    runs: usize,
) -> String {
    let mut out = vec![
        "# Cold starts (`./infra/coldstart`)".to_string(),
        String::new(),
        format!(
            "- {}; machine: {}; binaries: the `{}` profile, built for this machine.",
            chrono::Utc::now().format("%Y-%m-%d"),
            machine(),
            bin_dir.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        ),
        format!(
            "- Each sample starts the function's process afresh under a local Lambda Runtime API and invokes it once \
             with its `events/` fixture against moto; {runs} rounds, medians in ms. A request that fails fails the run."
        ),
        "- **init**: process start → the runtime's first `next` (Lambda's Init phase). **first response**: process \
         start → the response (Init plus the first invocation, with its first DynamoDB connection). **warm**: the \
         same request again on that process, i.e. the handler's own work, moto's time included. **cold cost**: first \
         response − warm, what being cold adds. **config / SDK config / clients**: the steps of `App::from_env`, \
         from the function's `initialized` log line (µs)."
            .to_string(),
        "- **init Minstr**: instructions (millions) from exec to the runtime's first `next`, counted by callgrind \
         (`valgrind --tool=callgrind`, the process stopped by SIGTERM once its first `next` arrives; median of \
         `COLDSTART_CALLGRIND_RUNS`, 3). Repeatable where milliseconds are not; callgrind runs the process \
         single-threaded and about 50× slower, so its times are not comparable."
            .to_string(),
        format!(
            "- Targets: first response within {TARGET_MS} ms; init within {} M instructions for a function with SDK \
             clients.",
            TARGET_INSTRUCTIONS / 1e6
        ),
        String::new(),
        "| Function | samples | init | init Minstr | first response | min–max | warm | cold cost | config µs | SDK config µs | clients µs | binary | ≤ 15 ms |".into(),
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|".into(),
    ];
    if let Some(extra) = std::env::var("COLDSTART_ENV").ok().filter(|e| !e.trim().is_empty()) {
        out.insert(
            out.len() - 3,
            format!("- Every function's environment also had `COLDSTART_ENV`: `{}`.", extra.trim()),
        );
    }
    for (function, samples) in samples {
        let first: Vec<f64> = samples.iter().map(|s| s.first_response_ms).collect();
        let (lo, hi) = first.iter().fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let first = median(first);
        let init = median(samples.iter().map(|s| s.init_ms).collect());
        let warm = median(samples.iter().map(|s| s.warm_ms).collect());
        let cost = median(samples.iter().map(|s| s.first_response_ms - s.warm_ms).collect());
        let step = |i: usize| median(samples.iter().filter_map(|s| s.steps_us.map(|steps| steps[i])).collect());
        let steps = |i: usize| step(i).map_or("–".into(), |v| format!("{v:.0}"));
        let size =
            std::fs::metadata(bin_dir.join(function)).map_or("?".into(), |m| format!("{:.1} MB", m.len() as f64 / 1e6));
        let meets = if first.is_some_and(|f| f <= TARGET_MS) { "yes" } else { "no" };
        let minstr = instructions.get(function).map_or("–".into(), |&i| format!("{:.2}", i as f64 / 1e6));
        out.push(format!(
            "| {function} | {} | {} | {minstr} | {} | {lo:.1}–{hi:.1} | {} | {} | {} | {} | {} | {size} | {meets} |",
            samples.len(),
            ms(init),
            ms(first),
            ms(warm),
            ms(cost),
            steps(0),
            steps(1),
            steps(2),
        ));
    }
    out.join("\n") + "\n"
}
