//! The repository this crate lives in: its root, and the `events/` fixtures the tests and the
//! benchmarks replay.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// The repository root (this crate lives in `infra/local`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the project root exists")
}

/// `events/<function>/<case>.json` with its `{{placeholders}}` filled (events/README.md); an
/// error names the file when one is left unfilled.
pub fn fixture(function: &str, case: &str, vars: &[(&str, &str)]) -> Result<String> {
    let path = project_root().join("events").join(function).join(format!("{case}.json"));
    let mut text = std::fs::read_to_string(&path).map_err(|e| Error::Fixture(format!("{}: {e}", path.display())))?;
    for (name, value) in vars {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    match text.find("{{") {
        Some(at) => {
            let near = &text[at..text.len().min(at + 30)];
            Err(Error::Fixture(format!("{} has unfilled placeholders: {near}", path.display())))
        }
        None => Ok(text),
    }
}
