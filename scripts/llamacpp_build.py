"""llama.cpp's `llama-bench` and `llama-lookup`, built once from the sources that PyPI's
`llama-cpp-python` sdist vendors, into the samdec cache (scripts/anchor_llamacpp.py runs them).

The sdist is the one thing fetched, through pip (`pip download --no-binary :all: --no-deps`),
so the build needs only PyPI. It is unpacked into `<cache>/llamacpp/<version>/` and built with
cmake: Release, native CPU (GGML_NATIVE), static libraries, no HTTPS or server, only the two
targets. A finished build leaves `build.json` beside the binaries (the cmake flags, the
vendored llama.cpp commit, the compiler, the seconds it took); its presence means "built", so a
second run does nothing. Two processes building at once wait for each other (a file lock).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
from samdec.runtime.cachefiles import cache_root, exclusive, write_record  # noqa: E402

PACKAGE, VERSION = "llama-cpp-python", "0.3.36"
# The name llama.cpp's rows carry in the artifacts (verify_cost's layout, anchor's system), which
# the README renderers look for.
NAME = "llama.cpp"
TARGETS = ("llama-bench", "llama-lookup")
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",  # this CPU's instructions (AVX-512 VNNI where it has them)
    "-DBUILD_SHARED_LIBS=OFF",  # binaries that run from the cache without a library path
    "-DLLAMA_OPENSSL=OFF",  # nothing is downloaded at run time (LLAMA_CURL is deprecated)
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
)
JOBS = 2
# On a CPU with Intel's AMX, llama.cpp repacks the weights for its tiles by default, and on such a
# CPU here that path died in its first step of more than one token (SIGSEGV in
# ggml_backend_amx_mul_mat). There the tools run on the weights as the file stores them, as a
# user would have to; the artifacts' commands carry the flag and their rows say why.
NO_REPACK = {"llama-bench": ["--repack", "0"], "llama-lookup": ["--no-repack"]}
NO_REPACK_WHY = "weights not repacked: llama.cpp's AMX path crashes on this CPU"


def amx() -> bool:
    from samdec.runtime.native import cpu_flags

    return "amx_int8" in cpu_flags().split()


def tool_flags(tool: str) -> list[str]:
    """What `tool` is given on this CPU besides a measurement's own flags."""
    return list(NO_REPACK[tool]) if amx() else []


def tool_note() -> str:
    """Why the tools run otherwise than by default on this CPU ("" where they do not)."""
    return NO_REPACK_WHY if amx() else ""


def build_folder(version: str = VERSION) -> Path:
    return cache_root() / "llamacpp" / version


def binaries(version: str = VERSION) -> dict[str, Path]:
    """Where the built tools lie (whether or not they are built yet)."""
    return {t: build_folder(version) / "build" / "bin" / t for t in TARGETS}


def build_record(version: str = VERSION) -> dict | None:
    """What the finished build recorded; None where it has not finished."""
    path = build_folder(version) / "build.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not all(p.is_file() for p in binaries(version).values()):
        return None
    return record


def download_sdist(folder: Path, version: str = VERSION) -> Path:
    """The sdist, downloaded by pip into `folder` (kept there: a second build reuses it)."""
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"{PACKAGE}=={version}",
        "--no-binary",
        ":all:",
        "--no-deps",
        "-d",
        str(folder),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob(f"llama_cpp_python-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        sys.exit(
            f"anchor: pip could not download the {PACKAGE} {version} sdist:\n{done.stderr[-2000:]}"
        )
    return found[0]


def unpack(sdist: Path, folder: Path) -> Path:
    """The sdist's top folder, unpacked under `folder` (once)."""
    top = folder / sdist.name.removesuffix(".tar.gz")
    if not (top / "vendor" / "llama.cpp" / "CMakeLists.txt").is_file():
        with tarfile.open(sdist) as tar:
            # The "data" filter (no links out of the folder) where this Python has it.
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(folder, **safe)
    return top


def vendored_commit(top: Path) -> str:
    """The llama.cpp commit the sdist vendors: its git submodule's HEAD, read from the file the
    sdist ships (so no git is needed); "unknown" where it is missing."""
    head = top / ".git" / "modules" / "vendor" / "llama.cpp" / "HEAD"
    try:
        return head.read_text().strip()
    except OSError:
        return "unknown"


def configured_versions(log: str) -> dict[str, str]:
    """The versions cmake's configure step reported (llama.cpp's and ggml's), from its log."""
    found = re.findall(r"^-- (llama\.cpp|ggml) version:\s*(\S+)", log, re.M)
    return {f"{name.replace('.', '_')}_version": version for name, version in found}


def compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or "c++"
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.split(
            "\n"
        )[0]
    except OSError:
        return cxx


def run_logged(command: list[str], log: Path) -> None:
    """Run `command` at a low priority (the machine stays usable), its output into `log`."""
    with open(log, "a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        done = subprocess.run(["nice", "-n", "10", *command], stdout=out, stderr=out)
    if done.returncode != 0:
        tail = log.read_text()[-3000:]
        sys.exit(f"anchor: {command[0]} failed (status {done.returncode}); log {log}:\n{tail}")


def run_tool(command: list[str], caller: str = "anchor") -> str:
    """`command`'s stdout and stderr together (stdout first); exits with its tail, prefixed
    with `caller`, when it fails."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(
            f"{caller}: {Path(command[0]).name} failed (status {done.returncode}):\n"
            f"{(done.stdout + done.stderr)[-3000:]}"
        )
    return done.stdout + "\n" + done.stderr


def bench_tests(text: str) -> list[dict]:
    """The tests of `llama-bench -o json`'s output: its JSON list, whatever precedes it (a
    banner) or follows it (the log on stderr). ValueError where there is no such list."""
    start = text.find("[")
    try:
        tests, _ = json.JSONDecoder().raw_decode(text[start:]) if start >= 0 else (None, 0)
    except ValueError as exc:
        raise ValueError(f"llama-bench's output is not its JSON list ({exc})") from None
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise ValueError("llama-bench's output is not its JSON list (no list of tests found)")
    return tests


def build(version: str = VERSION) -> dict:
    """Build the tools once (see the module's docstring); the build's record."""
    folder = build_folder(version)
    with exclusive(folder.parent / f"{version}.lock"):
        record = build_record(version)
        if record is not None:
            return record
        start = time.perf_counter()
        top = unpack(download_sdist(folder / "sdist", version), folder)
        source, out, log = top / "vendor" / "llama.cpp", folder / "build", folder / "build.log"
        print(f"anchor: building {', '.join(TARGETS)} in {out} (log: {log})", file=sys.stderr)
        run_logged(["cmake", "-S", str(source), "-B", str(out), *CMAKE_FLAGS], log)
        run_logged(["cmake", "--build", str(out), "--target", *TARGETS, "-j", str(JOBS)], log)
        record = {
            "package": f"{PACKAGE}=={version}",
            "llama_cpp_commit": vendored_commit(top),
            **configured_versions(log.read_text()),
            "cmake_flags": list(CMAKE_FLAGS),
            "targets": list(TARGETS),
            "jobs": JOBS,
            "compiler": compiler(),
            "machine": platform.machine(),
            "seconds": round(time.perf_counter() - start, 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        write_record(folder / "build.json", record)
        return record


if __name__ == "__main__":
    print(json.dumps(build(), indent=1))
