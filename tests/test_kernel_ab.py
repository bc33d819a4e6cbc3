"""scripts/kernel_ab.py: another revision's kernel sources, ready to load beside this checkout's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from samdec.runtime import native
from tests.conftest import load_script

kernel_ab = load_script("kernel_ab")


def test_a_revisions_sources_are_exported_whole(tmp_path):
    kernel_ab.export_sources("HEAD", tmp_path)
    for path in [*native.SOURCES, *native.HEADERS]:
        relative = path.relative_to(kernel_ab.ROOT).as_posix()
        committed = subprocess.run(
            ["git", "show", f"HEAD:{relative}"],
            cwd=kernel_ab.ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert (tmp_path / path.name).read_text() == kernel_ab.module_local(committed)


def test_older_bindings_are_made_module_local_and_current_ones_left_alone():
    old = 'py::class_<Linear>(m, "Linear")\n.def(1);\npy::class_<Layers>(m, "Layers")\n'
    patched = kernel_ab.module_local(old)
    assert patched.count("py::module_local()") == 2
    assert kernel_ab.module_local(patched) == patched
    current = (Path(native.CSRC) / "bindings.cpp").read_text()
    assert current.count("py::module_local()") == 2
    assert kernel_ab.module_local(current) == current


def test_sources_from_points_the_build_elsewhere_and_back(tmp_path):
    before = list(native.SOURCES)
    with native.sources_from(tmp_path):
        assert all(path.parent == tmp_path for path in native.SOURCES + native.HEADERS)
        assert [p.name for p in native.SOURCES] == [p.name for p in before]
    assert before == native.SOURCES and all(p.parent == native.CSRC for p in native.HEADERS)
