"""The kernel cache survives faults: a build killed half-way leaves torch's lock file behind,
and the next start must not wait on it forever."""

from __future__ import annotations

import subprocess
import sys

import pytest

from samdec.runtime import native
from samdec.runtime.cachefiles import cache_root

pytestmark = pytest.mark.skipif(
    not native.available(), reason="the native kernels need AVX-512 and a C++ compiler"
)
PROBE = "from samdec.runtime import native; print(native.available())"


def test_a_lock_left_by_a_killed_build_is_cleared():
    folder = cache_root() / "kernels" / f"streamed-{native.kernel_key()}"
    (folder / "lock").write_text("")  # what torch's FileBaton leaves when its build is killed
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240)
    assert out.stdout.strip() == "True", out.stderr[-2000:]
    assert "left by a kernel build that did not finish" in out.stderr
    assert not (folder / "lock").exists()


def test_two_processes_starting_at_once_both_get_the_kernel():
    starts = [
        subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    assert [p.communicate(timeout=240)[0].strip() for p in starts] == ["True", "True"]
