#!/usr/bin/env bash
# The test command of README.md: fresh set-up from the project's own files, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# Chromium renders the embedded server's web page in one test (Debian package; root only).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed; its test will skip and say so"
fi
# Go's own install directory, where a shell that did not set PATH up still has it.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
# The real engines (Pulumi CLI, OpenTofu, ...) from their Go modules, wherever Go exists;
# cached outside the checkout, so only the first run on a machine pays for the builds.
if command -v go >/dev/null 2>&1; then
  ./scripts/engines.sh
else
  echo "go not on PATH: the real engines are not built; their tests skip (and fail under CI=true)"
fi
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/ruff check .
.venv/bin/mypy dh_kfp_pulumi
# pytest exits 5 when it collects no test; set -e turns that (and any failure) into a failed run.
.venv/bin/python -m pytest -q "$@"
