"""app.py as a separate process for the scripts that drive it (screenshots, the live view's
cost, the first run): a free port, start it and wait until it answers, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_app(proc: subprocess.Popen, wait_s: float = 30) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_app(
    log_path: Path, wait_s: float = 180, env: dict | None = None, cwd: Path = ROOT
) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free local port (its output in `log_path`), once its page answers;
    SystemExit with the log's tail if it exits or does not answer within `wait_s`."""
    port = free_port()
    env = {**(env if env is not None else os.environ), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    tail = Path(log_path).read_text(errors="replace")[-2000:]
    raise SystemExit(f"app.py did not answer within {wait_s:.0f} s; its log ends:\n{tail}")
