"""Load test of the app through its public API, as strangers would use it.

    python scripts/load_test.py --clients 8 --requests 40            # starts app.py itself
    python scripts/load_test.py --url http://127.0.0.1:7860/ ...      # or targets a server

First every (prompt, method) pair runs once alone: the reference output. Then `--clients`
threads send `--requests` requests in all through gradio_client, at once. Reports p50/p95
latency, errors, "busy" answers, the server's resident memory before and after (when this
script started the server) and whether every output equals its solo run, token for token.
Run it alone on the machine (a benchmark): its latencies mean nothing beside other work.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samdec.receipts import receipt  # noqa: E402

PROMPTS = (
    "List three colours of the rainbow, then list them again in reverse order.",
    "Fix the bug: def add(a, b): return a - b",
    "Name four planets and one fact about each.",
    "Repeat after me: the quick brown fox jumps over the lazy dog.",
    "What is 12 times 12? Explain briefly.",
)
METHODS = ("sam+recycling", "sam", "sam-dynamic", "recycling", "ar")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=40, help="requests in all, over all clients")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2, help="the load, this many times over")
    p.add_argument("--url", default=None, help="a running server (default: start app.py)")
    p.add_argument("--out", default="benchmarks/load_test.json")
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(ROOT / "load-test-server.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("app.py did not answer within 180 s")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def call(client, prompt: str, method: str, max_new_tokens: int) -> tuple[list[int], float]:
    start = time.perf_counter()
    _, trace, _ = client.predict(prompt, method, max_new_tokens, api_name="/generate")
    return json.loads(trace)["token_ids"], time.perf_counter() - start


def solo_runs(client, max_new_tokens: int) -> tuple[dict[tuple[str, str], list[int]], float]:
    """Each (prompt, method) alone: its tokens, and the median seconds of a request alone (what
    one visitor waits), leaving out the first request, which loads the model."""
    outputs, seconds = {}, []
    for p in PROMPTS:
        for m in METHODS:
            outputs[(p, m)], elapsed = call(client, p, m, max_new_tokens)
            seconds.append(elapsed)
    return outputs, statistics.median(seconds[1:])


def concurrent_runs(url: str, args, reference) -> list[dict]:
    """Each client sends its share of the requests, one after another; all clients at once."""
    from gradio_client import Client

    jobs = [(PROMPTS[i % len(PROMPTS)], METHODS[i % len(METHODS)]) for i in range(args.requests)]
    shares = [jobs[c :: args.clients] for c in range(args.clients)]
    results: list[dict] = []
    lock = threading.Lock()

    def client_loop(share) -> None:
        client = Client(url, verbose=False)
        for prompt, method in share:
            row = {"prompt": PROMPTS.index(prompt), "method": method}
            try:
                ids, seconds = call(client, prompt, method, args.max_new_tokens)
                row.update(seconds=seconds, identical=ids == reference[(prompt, method)])
            except Exception as exc:  # counted, not fatal: that is what a load test measures
                row.update(error=str(exc)[:200], busy="busy" in str(exc))
            with lock:
                results.append(row)

    threads = [threading.Thread(target=client_loop, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def summary(results: list[dict], wall: float) -> dict:
    ok = [r for r in results if "seconds" in r]
    latencies = sorted(r["seconds"] for r in ok)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {
        "requests": len(results),
        "ok": len(ok),
        "errors": sum("error" in r and not r.get("busy") for r in results),
        "busy": sum(bool(r.get("busy")) for r in results),
        "identical": sum(bool(r.get("identical")) for r in ok),
        "p50_s": statistics.median(latencies) if latencies else 0.0,
        "p95_s": pct(0.95),
        "wall_s": wall,
    }


def main() -> None:
    args = parse_args()
    from gradio_client import Client

    proc, url = (None, args.url) if args.url else start_server()
    try:
        client = Client(url, verbose=False)
        reference, solo_s = solo_runs(client, args.max_new_tokens)  # also loads the model
        before = rss_mb(proc.pid) if proc else None
        start = time.perf_counter()
        results, after_rounds = [], []
        for _ in range(args.rounds):  # memory that grows every round would be a leak
            results += concurrent_runs(url, args, reference)
            time.sleep(5)  # let the server settle
            after_rounds.append(rss_mb(proc.pid) if proc else None)
        wall = time.perf_counter() - start
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    report = {
        "receipt": receipt(),
        # what the server was started with; None: app.py's own defaults
        "server_env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
        "clients": args.clients,
        "max_new_tokens": args.max_new_tokens,
        "rounds": args.rounds,
        "server_rss_mb": {"before": before, "after_each_round": after_rounds},
        "solo_median_s": solo_s,
        **summary(results, wall),
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    s = report
    rounds = ", ".join(f"{m or 0:.0f}" for m in after_rounds)
    print(
        f"{s['requests']} requests from {args.clients} clients in {wall:.0f} s: {s['ok']} ok, "
        f"{s['errors']} errors, {s['busy']} busy; identical to the solo run: "
        f"{s['identical']}/{s['ok']}; latency p50 {s['p50_s']:.1f} s, p95 {s['p95_s']:.1f} s; "
        f"server memory {before or 0:.0f} MB before, after each round {rounds} MB -> {out}"
    )


if __name__ == "__main__":
    main()
