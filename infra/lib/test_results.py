#!/usr/bin/env python3
"""Reads the output of `cargo test --workspace` and fails unless every test binary it started
ended with `test result: ok`, none was filtered, and the suites that carry the tests ran at least
as many tests as they held when this floor was set (a floor, not a count: adding tests is free;
losing a module, a binary or most of a suite is not). Usage: test_results.py LOG
"""
import re
import sys

# Binary (as cargo names it in "Running <source>") -> the fewest passed tests accepted.
FLOORS = {
    "unittests src/lib.rs (chat_core)": 25,
    "api/main.rs": 100,
    "tests/e2e.rs": 8,
}

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
running = re.compile(r"^\s+Running (.+?) \((?:.*/)?([A-Za-z0-9_]+)-[0-9a-f]+(?:\.exe)?\)$")
result = re.compile(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; (\d+) filtered out")
runs = []  # [name, result line or None]
for line in text.splitlines():
    m = running.match(line)
    if m:
        source, binary = m.groups()
        name = f"{source} ({binary})" if source.startswith("unittests") else source
        runs.append([name, None])
        continue
    m = result.match(line)
    if m and runs and runs[-1][1] is None:
        runs[-1][1] = m.groups()
problems = []
passed = {}
for name, outcome in runs:
    if outcome is None:
        problems.append(f"{name}: started, but printed no test result")
        continue
    status, ok, failed, ignored, filtered = outcome
    if status != "ok" or failed != "0":
        problems.append(f"{name}: {status}, {failed} failed")
    if filtered != "0":
        problems.append(f"{name}: {filtered} tests filtered out")
    passed[name] = passed.get(name, 0) + int(ok)
for name, floor in FLOORS.items():
    matching = [n for n in passed if n == name or n.endswith("/" + name)]
    if not matching:
        problems.append(f"{name}: did not run")
    elif sum(passed[n] for n in matching) < floor:
        problems.append(f"{name}: {sum(passed[n] for n in matching)} passed, fewer than the floor of {floor}")
for problem in problems:
    print(f"cargo test: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"    {len(runs)} test binaries, {sum(passed.values())} passed; " + ", ".join(f"{n}: {passed[n]}" for n in FLOORS if n in passed))
