//! The layering rules of `docs/architecture.md` that a compiler cannot see: storage and the
//! domain types know nothing of the edges (HTTP, WebSocket, the error envelope, page budgets).

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `path` (or `path` itself).
    fn sources(path: &Path) -> Vec<PathBuf> {
        if path.is_file() {
            return vec![path.to_path_buf()];
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            found.extend(sources(&entry.expect("a directory entry").path()));
        }
        found
    }

    /// `(file, line)` of every line of code (comments aside) that names a forbidden path.
    fn violations(root: &Path, module: &str, forbidden: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for file in sources(&root.join(module)) {
            let text = std::fs::read_to_string(&file).expect("a readable source file");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if let Some(name) = forbidden.iter().find(|name| code.contains(*name)) {
                    found.push(format!("{}:{}: uses {name}", file.display(), number + 1));
                }
            }
        }
        found
    }

    const EDGES: &[&str] =
        &["lambda_http", "crate::error", "crate::http", "crate::ws", "crate::paging", "ApiError", "ApiResult"];

    #[test]
    fn storage_and_domain_do_not_reach_the_edges() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for module in ["store", "domain.rs", "views.rs"] {
            found.extend(violations(&root, module, EDGES));
        }
        assert!(found.is_empty(), "layering (docs/architecture.md):\n{}", found.join("\n"));
    }

    #[test]
    fn the_check_sees_a_violation() {
        let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.rs"), "// crate::error in a comment is fine\nuse crate::error::ApiError;\n")
            .unwrap();
        let found = violations(&dir, "bad.rs", EDGES);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("bad.rs:2: uses crate::error"), "{found:?}");
    }
}
