"""Import boundaries: the engine side never loads the UI, the figures never load the engine.

Each check imports in a fresh interpreter, so what one test imported cannot hide what another
module pulls in. The source scan keeps gradio inside `samdec/ui/`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

ENGINE_SIDE = (
    "samdec.engine",
    "samdec.automaton",
    "samdec.static_automaton",
    "samdec.drafters",
    "samdec.runtime.runner",
    "samdec.stack",
    "samdec.bench",
    "samdec.tuning",
    "samdec.stepping",
    "samdec.config",
    "samdec.methods",
    "samdec.baselines",
)
UI_SIDE = ("gradio", "plotly", "visuals")
TORCH_FREE = ("samdec.methods", "samdec.config", "samdec.trace", "samdec.rule", "samdec.cost")
# Where the scan does not look: tests may drive the UI, the rest is not the project's code.
NOT_SCANNED = {"tests", "build", "node_modules", "venv"}


def loaded_after_import(module: str, roots: tuple[str, ...]) -> list[str]:
    """Modules under `roots` in sys.modules after importing `module` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"roots = {roots!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in roots)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ENGINE_SIDE)
def test_engine_side_loads_no_ui(module):
    assert loaded_after_import(module, UI_SIDE) == []


def test_visuals_load_neither_torch_nor_gradio():
    assert loaded_after_import("visuals", ("torch", "gradio")) == []


@pytest.mark.parametrize("module", TORCH_FREE)
def test_plain_data_modules_load_no_torch(module):
    assert loaded_after_import(module, ("torch",)) == []


def imports_gradio(path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "gradio" or name.startswith("gradio.") for name in names):
            return True
    return False


def project_sources():
    """The repository's Python files, skipping hidden folders (.git, caches) and NOT_SCANNED."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in NOT_SCANNED and not d.endswith(".egg-info")
        )
        yield from (Path(folder) / f for f in sorted(files) if f.endswith(".py"))


def test_only_the_ui_package_imports_gradio():
    sources = list(project_sources())
    assert any(p.name == "engine.py" for p in sources)  # the scan does see the project
    ui = ROOT / "samdec" / "ui"
    outside = [
        str(p.relative_to(ROOT)) for p in sources if imports_gradio(p) and not p.is_relative_to(ui)
    ]
    assert outside == [], f"gradio imported outside samdec/ui/: {outside}"
