//! The infra/ scripts' install steps, run with stand-in `rustc` and `rustup` on PATH, so that a
//! fresh machine's first run is exercised on any machine.

use std::path::Path;
use std::process::Command;

/// A PATH holding stand-ins: `rustc --print sysroot` names `sysroot`; `rustup` (when wanted)
/// logs each call to `rustup.log` and, for `target add T`, installs T's (empty) std directory.
fn stand_ins(dir: &Path, with_rustup: bool) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sysroot = dir.join("sysroot");
    std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
    let script = |name: &str, body: String| {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    };
    script("rustc", format!("[ \"$1 $2\" = '--print sysroot' ] && echo '{}'", sysroot.display()));
    if with_rustup {
        let log = dir.join("rustup.log");
        script(
            "rustup",
            format!(
                "echo \"$*\" >> '{}'\n[ \"$1 $2\" = 'target add' ] && mkdir -p '{}/lib/rustlib/'\"$3\"/lib",
                log.display(),
                sysroot.display()
            ),
        );
    }
    format!("{}:/usr/bin:/bin", bin.display())
}

fn ensure_arm64_target(path: &str) -> std::process::Output {
    let root = local_stack::project_root();
    Command::new("bash")
        .arg("-c")
        .arg("source infra/lib/common.sh && ensure_arm64_target && ensure_arm64_target")
        .current_dir(root)
        .env("PATH", path)
        .output()
        .unwrap()
}

#[test]
fn the_arm64_target_is_installed_once_and_said_so() {
    let dir = tempdir("arm64-target");
    let output = ensure_arm64_target(&stand_ins(&dir, true));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let calls = std::fs::read_to_string(dir.join("rustup.log")).unwrap_or_default();
    assert_eq!(calls, "target add aarch64-unknown-linux-gnu\n", "the second call must find it installed");
    assert!(stderr.contains("Installing the Rust standard library for aarch64-unknown-linux-gnu"), "{stderr}");
}

#[test]
fn without_rustup_the_missing_target_is_named() {
    let dir = tempdir("arm64-no-rustup");
    let output = ensure_arm64_target(&stand_ins(&dir, false));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("aarch64-unknown-linux-gnu") && stderr.contains("rustup"), "{stderr}");
}

/// The scripts that build for arm64 install the target before anything runs in parallel.
#[test]
fn arm64_builds_install_the_target_first() {
    let root = local_stack::project_root();
    for (script, build) in [("infra/sam", "exec sam"), ("infra/sizes", "cargo lambda build")] {
        let text = std::fs::read_to_string(root.join(script)).unwrap();
        let install = text.find("\nensure_arm64_target").or_else(|| text.find(") ensure_arm64_target"));
        let build_at = text.find(build).unwrap_or_else(|| panic!("{script} no longer runs {build}"));
        assert!(install.is_some_and(|at| at < build_at), "{script} builds before ensure_arm64_target");
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
