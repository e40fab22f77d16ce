#!/usr/bin/env python3
"""Fails when a test sits in a target that `cargo test` skips.

Most crates set `test = false` on their lib and bins (their tests live in the chat-tests and
local-stack test binaries, so that the AWS SDK is linked once). A `#[test]`, `#[tokio::test]` or
`#[cfg(test)]` added to the sources of such a target would compile and never run. The sources of
a target are the folder of its root file, less the folders of targets that `cargo test` runs.
Usage: untested_targets.py (from anywhere in the workspace).
"""
import json
import pathlib
import re
import subprocess
import sys

PATTERN = re.compile(r"#\[\s*(?:[\w:]+::)?test\b|#\[\s*cfg\s*\(\s*(?:all\s*\(|any\s*\()?[^)]*\btest\b")

metadata = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
tested = set()
skipped = set()
for package in metadata["packages"]:
    for target in package["targets"]:
        folder = pathlib.Path(target["src_path"]).parent
        if set(target["kind"]) & {"lib", "bin", "rlib", "cdylib", "proc-macro"}:
            (tested if target.get("test", True) else skipped).add(folder)
if not skipped:
    sys.exit("no target sets test = false: is this the workspace?")

problems = []
scanned = 0
for folder in sorted(skipped):
    for path in sorted(folder.rglob("*.rs")):
        # A file under the folder of a tested target (chat-core's lib) is that target's.
        owner = max((f for f in tested | skipped if path.is_relative_to(f)), key=lambda f: len(f.parts))
        if owner in tested:
            continue
        scanned += 1
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # Comments may name an attribute ("each #[tokio::test] has its own runtime").
            if PATTERN.search(line.split("//", 1)[0]):
                problems.append(f"{path}:{number}: {line.strip()}")
for problem in problems:
    print(f"a test in a target with `test = false` (it would never run): {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"    {scanned} source files of {len(skipped)} targets with test = false hold no test")
