#!/usr/bin/env bash
# Regenerate requirements.lock: every package pinned for Linux x86-64, Python 3.11, with all extras
# (pyproject.toml keeps the ranges for library users). CI and the README install with
# `pip install -c requirements.lock -e '.[dev]'`, so a fresh machine gets exactly these versions.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null; then
    python3 -m venv /tmp/trscohort-uv && /tmp/trscohort-uv/bin/pip install --quiet 'uv>=0.13,<0.14'
    PATH="/tmp/trscohort-uv/bin:$PATH"
fi
extras=$(python3 -c "import tomllib; print(' '.join('--extra ' + e for e in tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']))")
# shellcheck disable=SC2086
uv pip compile pyproject.toml $extras --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
    --no-header --quiet -o requirements.lock
sed -i '1i # Pinned by scripts/lock.sh from pyproject.toml (all extras, Linux x86-64, Python 3.11). Do not edit.' requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) pinned packages"
