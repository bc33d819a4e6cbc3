"""Caches that survive faults: a kernel build killed half-way leaves torch's lock file behind,
and the next start must not wait on it forever; two processes starting on an empty cache at
once both answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from samdec.runtime import native
from samdec.runtime.cachefiles import cache_root

NATIVE = pytest.mark.skipif(
    not native.available(), reason="the native kernels need AVX-512 and a C++ compiler"
)
PROBE = "from samdec.runtime import native; print(native.available())"


@NATIVE
def test_a_lock_left_by_a_killed_build_is_cleared():
    folder = cache_root() / "kernels" / f"streamed-{native.kernel_key()}"
    (folder / "lock").write_text("")  # what torch's FileBaton leaves when its build is killed
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
    assert "left by a kernel build that did not finish" in out.stderr
    assert not (folder / "lock").exists()


@NATIVE
def test_two_processes_starting_at_once_both_get_the_kernel():
    starts = [
        subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    assert [p.communicate(timeout=240)[0].strip() for p in starts] == ["True", "True"]


def test_two_processes_on_an_empty_cache_both_answer(tmp_path):
    """Both de-quantise the bundled model into one empty cache at once (the native kernels off,
    so that no build is timed here): one writes it, the other waits and reads it."""
    env = {**os.environ, "SAMDEC_CACHE": str(tmp_path), "SAMDEC_NO_NATIVE": "1"}
    env["HF_HUB_OFFLINE"] = "1"
    args = ["generate", "Say hi.", "--method", "ar", "--max-new-tokens", "4", "--layout", "stock",
            "--static", "none", "--json"]  # fmt: skip
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "samdec", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in starts]
    assert [p.returncode for p in starts] == [0, 0], [err[-1500:] for _, err in outs]
    texts = [json.loads(out)["token_ids"] for out, _ in outs]
    assert texts[0] == texts[1] and texts[0]
    (model,) = [p for p in (tmp_path / "models").iterdir() if p.is_dir()]
    assert (model / "model.safetensors").is_file()
