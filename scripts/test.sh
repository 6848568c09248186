#!/usr/bin/env bash
# One command on a fresh Debian 12 (as root): install everything, then run lint, types and the
# whole test suite (unit, API on SQLite and PostgreSQL, end-to-end on real OVS, scale).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check alcor tests benchmarks
.venv/bin/ruff format --check alcor tests benchmarks
.venv/bin/mypy alcor
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
