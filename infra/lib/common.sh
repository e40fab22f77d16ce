# Shared by the infra/ scripts. Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENVS="$ROOT/.venv"

die() {
  echo "error: $*" >&2
  exit 1
}

need_python() {
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed. Install Python 3.9 or newer (e.g. 'apt-get install python3 python3-venv') and run again."
  python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
    die "python3 is older than 3.9. Install a newer Python 3 and run again."
  python3 -c 'import venv, ensurepip' 2>/dev/null ||
    die "python3 cannot create virtualenvs. Install the venv module (e.g. 'apt-get install python3-venv') and run again."
}

need_cargo() {
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed. Install Rust from https://rustup.rs and run again."
}

# ensure_venv NAME: a virtualenv at .venv/NAME with infra/requirements/NAME.txt installed.
# Reinstalls only when the requirements file changed. Prints the venv's path.
ensure_venv() {
  local name="$1" req="$ROOT/infra/requirements/$1.txt" dir="$VENVS/$1"
  local stamp="$dir/.requirements.sha256" want
  need_python
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$dir/bin/python" ]; then
    echo "$dir"
    return 0
  fi
  echo "Installing Python tools ($name) into $dir (first run only)..." >&2
  rm -rf "$dir"
  python3 -m venv "$dir" >&2 || die "could not create a virtualenv at $dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2 ||
    die "pip could not upgrade itself in $dir (is PyPI reachable?)"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2 ||
    die "pip could not install $req (is PyPI reachable?)"
  echo "$want" >"$stamp"
  echo "$dir"
}

# ensure_arm64_target: the Rust standard library for aarch64-unknown-linux-gnu, which the arm64
# Lambda build (cargo-lambda, through `sam build` or infra/sizes) links against. Installed here,
# once, before any parallel step: `sam build` starts one cargo-lambda per function, and on a
# machine without the target each would run its own `rustup target add` at the same moment;
# those installs race in rustup's directories and most of them fail.
ARM64_TARGET=aarch64-unknown-linux-gnu
ensure_arm64_target() {
  local sysroot
  sysroot="$(rustc --print sysroot 2>/dev/null)" || die "rustc is not installed. Install Rust from https://rustup.rs and run again."
  [ -d "$sysroot/lib/rustlib/$ARM64_TARGET/lib" ] && return 0
  command -v rustup >/dev/null 2>&1 ||
    die "the Rust standard library for $ARM64_TARGET is missing and rustup is not installed to add it. Install Rust with rustup (https://rustup.rs), or add that target to your toolchain, and run again."
  echo "Installing the Rust standard library for $ARM64_TARGET (arm64 Lambda builds; first run only): rustup target add $ARM64_TARGET" >&2
  rustup target add "$ARM64_TARGET" >&2 || die "'rustup target add $ARM64_TARGET' failed (is static.rust-lang.org reachable?)."
  [ -d "$sysroot/lib/rustlib/$ARM64_TARGET/lib" ] ||
    die "rustup reported success, but $sysroot/lib/rustlib/$ARM64_TARGET is still missing."
}
