#!/usr/bin/env bash
# Danna-Sep Live tests, the second of the README's two commands: lint, then the whole pytest suite
# (real JACK, UDP and Qt where the tests need them; they start and stop those themselves).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    echo "test.sh: no .venv yet; run 'bash scripts/setup.sh' first" >&2
    exit 2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check . || { echo "test.sh: run .venv/bin/ruff format . (the files above are not formatted)" >&2; exit 1; }
.venv/bin/python -m pytest "$@"
