"""An installed samdec (not this checkout) decodes exactly as the checkout does.

The package reads its data (the policy's fitted priors, the default corpus, Spec-Bench) from
inside itself. If an installed copy lost a file, the priors would change every draft length
without changing the text; so this compares the token ids *and* each step's draft length.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.model

ARGS = (
    "generate",
    "Write a Python function that checks whether a number is prime.",
    "--method",
    "sam",
    "--max-new-tokens",
    "32",
    "--json",
)
# What a copy of the checkout leaves out: hidden folders (.git, caches), tests, build leftovers.
NOT_COPIED = (".*", "tests", "build", "*.egg-info", "__pycache__", "results*", "test-output")


def install(tmp: Path) -> Path:
    """A fresh venv (system packages visible: torch etc.) with samdec installed from a copy."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_COPIED))
    venv = tmp / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    python = venv / "bin" / "python"
    # Not editable: the package is copied into the venv, data included or not.
    pip = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run([*pip, str(src)], capture_output=True, text=True, cwd=tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return python


def seed_calibration(cache: Path, loaded) -> Path:
    """A fixed verify-cost curve where the engine looks for its measured one.

    Measured curves differ between two runs; draft lengths follow the curve, so both runs must
    read the same one. Its scale is tiny, so the start-up probe never finds it stale (the policy
    compares costs with each other, so the scale does not change its choices). The file name
    is samdec.runtime.calibration's; the test checks the engine used this file.
    """
    from samdec.cost import CPU_DEFAULT_COST, CostModel
    from samdec.runtime.cachefiles import write_record
    from samdec.runtime.calibration import calibration_file
    from samdec.runtime.runner import ModelRunner

    runner = ModelRunner(loaded)
    key, where = runner.cost_key, calibration_file(runner)
    path = cache / "calibration" / where.name
    cost = CostModel({q: ms * 1e-6 for q, ms in CPU_DEFAULT_COST.items()}, key)
    write_record(path, {"key": key, **cost.to_dict()})
    return path


def shared_cache(tmp: Path) -> Path:
    """A cache folder of its own for calibration, sharing the real one's models, automata and
    layout choices (so both runs load the layout the `bundled` fixture was loaded in)."""
    from samdec.runtime.cachefiles import cache_root

    cache = tmp / "cache"
    cache.mkdir()
    real = cache_root()
    for name in ("models", "static", "layouts"):
        (real / name).mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(real / name, target_is_directory=True)
    return cache


def decode(python: Path, cwd: Path, pythonpath, cache: Path) -> dict:
    out = run_cli(
        *ARGS, python=python, cwd=cwd, pythonpath=pythonpath, env={"SAMDEC_CACHE": str(cache)}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_installed_package_decodes_like_the_checkout(tmp_path, bundled):
    python = install(tmp_path)
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import json, samdec, samdec.corpus as c, samdec.drafters.priors as p,"
            " samdec.questions as q;"
            "print(json.dumps([samdec.__file__, str(p.PRIORS_PATH), str(c.DEFAULT_CORPUS),"
            " str(q.SPEC_BENCH)]))",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert probe.returncode == 0, probe.stderr
    venv = (tmp_path / "venv").resolve()
    for path in map(Path, json.loads(probe.stdout)):
        # The installed copy, with its data beside it: not this checkout's files.
        assert path.resolve().is_relative_to(venv), path
        assert path.is_file(), f"{path} was not installed"
        assert not path.resolve().is_relative_to(ROOT.resolve())
    assert (Path(json.loads(probe.stdout)[2]).parent / "licenses" / "GSM8K-LICENSE").is_file()

    cache = shared_cache(tmp_path)
    seeded = seed_calibration(cache, bundled)
    points = json.loads(seeded.read_text())
    checkout = decode(Path(sys.executable), ROOT, ROOT, cache)
    installed = decode(python, tmp_path, None, cache)

    # Both runs read the seeded curve (no other curve was measured or saved).
    assert [p.name for p in (cache / "calibration").iterdir()] == [seeded.name]
    assert json.loads(seeded.read_text()) == points
    assert installed["token_ids"] == checkout["token_ids"]
    lengths = [len(s["draft_tokens"]) for s in checkout["steps"]]
    assert [len(s["draft_tokens"]) for s in installed["steps"]] == lengths
    assert any(lengths), "no step drafted: the comparison would not exercise the priors"
