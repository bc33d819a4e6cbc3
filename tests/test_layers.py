"""The code's shape: two layers joined by one seam, no import circles, small modules.

Read from the source (every import, those inside functions too), so an import hidden in a
function cannot cross a layer unseen.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("samdec", "visuals")
# The runtime may read the pure cost curve it measures; nothing else of the decoding layer.
RUNTIME_MAY_IMPORT = {"samdec.cost"}


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module `name` imports, by its full name: project modules and third-party roots.
    `from pkg import x` counts pkg.x where that is a module, and pkg itself (Python runs
    pkg/__init__.py first)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(
                f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules
            )
    edges = set()
    for target in found:
        if target in modules:
            edges.add(target)
            parent = target.rpartition(".")[0]
            # A parent package's __init__ runs too, unless it is the importer's own package.
            if parent in modules and not name.startswith(parent + ".") and parent != name:
                edges.add(parent)
        else:
            edges.add(target.split(".")[0])  # a third-party or standard library root
    edges.discard(name)
    return edges


def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_circles():
    edges = graph()
    circles = sorted(name for name in edges if name in reachable(name, edges))
    assert circles == []


def test_the_engine_reaches_neither_transformers_nor_the_runtime():
    edges = graph()
    reached = reachable("samdec.engine", edges)
    assert "transformers" not in reached
    assert not [m for m in reached if m.startswith("samdec.runtime")]
    assert not [m for m in reached if m.startswith(("samdec.ui", "visuals", "gradio"))]
    # and at run time: importing the engine loads no transformers module
    probe = (
        "import sys, samdec.engine; print(any(m.startswith('transformers') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_the_runtime_knows_nothing_of_drafting():
    edges = graph()
    for name, targets in edges.items():
        if not name.startswith("samdec.runtime"):
            continue
        above = {
            t
            for t in targets
            if t.startswith(("samdec", "visuals"))
            and not t.startswith("samdec.runtime")
            and t != "samdec"
        }
        assert above <= RUNTIME_MAY_IMPORT, (name, above)


def test_negative_control_the_checks_see_an_import_inside_a_function(tmp_path):
    source = "def f():\n    from samdec.runtime import loading\n"
    path = tmp_path / "m.py"
    path.write_text(source)
    modules = {**module_files(), "samdec.m": path}
    assert "samdec.runtime.loading" in imports_of("samdec.m", path, modules)


def test_no_module_over_600_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    paths = [ROOT / "app.py", *sorted((ROOT / "scripts").glob("*.py"))]
    paths += list(module_files().values())
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 600:
            long_modules.append(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(text)):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and node.end_lineno - node.lineno + 1 > 80:
                long_functions.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert long_modules == [] and long_functions == []
