"""A new user's first run, measured: a fresh clone and an empty cache, `bash scripts/setup.sh`,
then `python app.py`, and the first /generate through the API.

    python scripts/first_run.py --out benchmarks/first_run.json
    python scripts/first_run.py --clone PATH --cache DIR --out /tmp/first_run.json

Without --clone, this checkout's committed HEAD is cloned into a temporary folder; without
--cache, the cache ($SAMDEC_CACHE) is a new empty folder, so setup's prepare does every piece
of one-time work. The packages are this interpreter's: setup finds them installed, so its time
is the model's preparation. Recorded: setup's seconds and the peak resident memory of its
largest process (the prepare step), then from the app's start the seconds until the server
answers and until the first /generate has answered, and the app's peak resident memory
(VmHWM). Run it alone on the machine: anything else running makes every number larger.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from app_process import free_port, stop_app  # noqa: E402

from samdec.prepare import PEAK_MEMORY  # noqa: E402

PROMPT = "List three colours of the rainbow."
MAX_NEW_TOKENS = 64
SERVER_WAIT_S = 600  # a server that does not answer by then is a failed run
STILL_PREPARING = "still being prepared"


def fresh_clone(parent: Path) -> Path:
    """This checkout's committed HEAD, cloned into `parent`."""
    clone = parent / "samdec"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def run_setup(clone: Path, env: dict) -> dict:
    """`bash scripts/setup.sh` in the clone: seconds, peak RSS of its largest process, and the
    prepare summary it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=clone, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest descendant
    if done.returncode != 0:
        sys.exit(f"first_run: setup failed:\n{done.stderr[-3000:]}")
    summary = [line for line in done.stdout.splitlines() if line.strip()]
    said = [line for line in summary if line.startswith(PEAK_MEMORY)]
    return {
        "seconds": round(seconds, 1),
        # prepare's own peak (the model's first load); the largest descendant's can be the
        # C++ compiler's while it builds the kernel.
        "prepare_peak_rss_mb": float(said[-1].split(":")[1].split()[0]) if said else None,
        "largest_process_peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb > before else None,
        "output": summary[-12:],
    }


def vm_hwm_mb(pid: int) -> float | None:
    """The peak resident memory of a running process (Linux), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def wait_for_server(url: str, app: subprocess.Popen, start: float) -> float:
    """Seconds from `start` until the page answers."""
    while time.perf_counter() - start < SERVER_WAIT_S:
        if app.poll() is not None:
            sys.exit(f"first_run: the app exited with status {app.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    sys.exit(f"first_run: the app did not answer within {SERVER_WAIT_S} s")


def first_generate(url: str, start: float) -> dict:
    """The first /generate through gradio_client, again while the app says it is still being
    prepared (each such answer recorded): seconds from `start`, and the answer's length."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    refusals = []
    while True:
        try:
            _, trace, _ = client.predict(
                PROMPT, "sam+recycling", MAX_NEW_TOKENS, api_name="/generate"
            )
            break
        except Exception as exc:  # gradio_client raises AppError with the server's message
            if STILL_PREPARING not in str(exc) or time.perf_counter() - start > SERVER_WAIT_S:
                raise
            refusals.append(f"{time.perf_counter() - start:.1f} s: {str(exc)[:200]}")
    return {
        "seconds_from_app_start": round(time.perf_counter() - start, 1),
        "new_tokens": len(json.loads(trace)["token_ids"]) if trace else 0,
        "answered_still_preparing": refusals,
    }


def run_app(clone: Path, env: dict) -> dict:
    """Start `python app.py`, time the server and the first /generate, then stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = Path(tempfile.mkdtemp(prefix="samdec-first-run-app-")) / "app.log"
    log = open(log_path, "w+")  # noqa: SIM115 (kept open while the app runs)
    start = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=clone, env=env, stdout=log, stderr=log
    )
    try:
        server_s = wait_for_server(url, app, start)
        first = first_generate(url, start)
        peak = vm_hwm_mb(app.pid)
    except BaseException:
        log.seek(0)
        print(log.read()[-3000:], file=sys.stderr)
        raise
    finally:
        stop_app(app)
        log.close()
    return {"server_answers_s": round(server_s, 1), "first_generate": first, "peak_rss_mb": peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clone", type=Path, default=None, help="a fresh clone (default: make one)")
    ap.add_argument("--cache", type=Path, default=None, help="an empty cache folder")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "first_run.json")
    args = ap.parse_args()
    from samdec.receipts import receipt

    work = Path(tempfile.mkdtemp(prefix="samdec-first-run-"))
    clone = args.clone or fresh_clone(work)
    cache = args.cache or work / "cache"
    if cache.exists() and any(cache.iterdir()):
        sys.exit(f"first_run: the cache folder {cache} is not empty")
    env = {**os.environ, "SAMDEC_CACHE": str(cache), "PYTHON": sys.executable}
    env["HF_HUB_OFFLINE"] = "1"  # the bundled model only: nothing comes from the network
    env.pop("PYTHONPATH", None)  # the clone's samdec, not this checkout's
    setup = run_setup(clone, env)
    print(f"first_run: setup {setup['seconds']} s", file=sys.stderr)
    app = run_app(clone, env)
    result = {
        "receipt": receipt(),
        "clone_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip(),
        "prompt": PROMPT,
        "max_new_tokens": MAX_NEW_TOKENS,
        "setup": setup,
        "app": app,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({"setup": setup["seconds"], **app}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
