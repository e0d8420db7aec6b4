#!/usr/bin/env bash
# The scaffold must never drift from the core: generate a plugin package with the real
# `syndicator plugin new` and run the package's own tests (built on syndicator.testing)
# against this checkout. The package is put on PYTHONPATH, not installed, so the project's
# .venv stays as it was. Needs the .venv that `make test` creates.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.venv/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

env -u SYNDICATOR_CONFIG -u SYNDICATOR_DISABLE_PLUGINS "$bin/syndicator" plugin new civicboard --dir "$work"
package="$work/syndicator-civicboard"
cd "$package"
"$bin/ruff" check --no-cache .
"$bin/ruff" format --no-cache --check .
PYTHONPATH="$package" "$bin/python" -m pytest -p no:cacheprovider --basetemp="$work/basetemp" tests
