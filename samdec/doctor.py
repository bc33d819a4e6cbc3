"""`python -m samdec doctor`: what this machine runs, and why (the convention of torch's
`collect_env` and vLLM's `collect-env`): the CPU and its features, the compiler, whether the
native kernels built (and why not), the device and dtype, the weight layout and the forward
chosen and why, whether speculation is exact by construction here, and the cache folders.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import torch

from .runtime import hugepages, native
from .runtime.cachefiles import cache_root, read_record
from .runtime.layout_choice import layout_choice_file
from .runtime.layouts import auto_candidates, exactness, numerics_label
from .runtime.machine import cpu_info, omp_wait

FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def first_line(command: list[str]) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "fails"


def kernel_fact(device: str | None) -> str:
    """Whether the native kernels are built and loaded; asked only where the model runs on a
    CPU, the only place they run (on a GPU nothing is built for the CPU)."""
    from .runtime.loading import ModelLoadError, pick_device

    try:
        target = pick_device(device)
    except ModelLoadError:  # the load says why; the kernels would not run there either
        target = str(device)
    if target != "cpu":
        return f"not built: the model runs on {target}, and they are CPU kernels"
    return "built and loaded" if native.available() else native.unavailable()


def machine_facts(device: str | None = None) -> dict[str, str]:
    flags = set(native.cpu_flags().split())
    return {
        "cpu": cpu_info("model name") or "unknown",
        "cpu features": ", ".join(f for f in FEATURES if f in flags)
        or "none of " + "/".join(FEATURES),
        "torch": f"{torch.__version__}, {torch.get_num_threads()} threads, "
        f"OpenMP waiting: {omp_wait() or 'default'}",
        "compiler": first_line([shutil.which("c++") or "c++", "--version"]),
        "ninja": first_line([shutil.which("ninja") or "ninja", "--version"]),
        "native kernels": kernel_fact(device),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU",
    }


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def cache_facts() -> dict[str, str]:
    root = cache_root()
    if not root.is_dir():
        return {"cache": f"{root} (empty)"}
    sizes = {p.name: folder_size(p) for p in sorted(root.iterdir()) if p.is_dir()}
    listed = ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in sizes.items())
    return {"cache": f"{root}: {listed or 'empty'}"}


def model_facts(spec: str, device: str | None, dtype: str | None, layout: str | None) -> dict:
    """Load the model as the app would, and say what runs it."""
    from .runtime.loading import load_model

    return loaded_facts(load_model(spec, device, dtype, layout), layout)


def loaded_facts(loaded, layout: str | None = None) -> dict:
    """What runs a loaded model (`layout`: the layout that was asked for, None for auto)."""
    from .runtime.runner import ModelRunner

    runner = ModelRunner(loaded)
    facts = {"model": loaded.name, "device": loaded.device, "dtype": loaded.dtype}
    facts["layout"] = f"{loaded.layout} ({layout_reason(loaded, layout)})"
    facts["forward"] = loaded.forward_choice[1]
    facts["draft trees"] = "taken" if runner.supports_trees else "not taken: chains only"
    facts["numerics"] = numerics_label(loaded.layout, loaded.dtype)
    facts["exact"] = exactness(loaded.layout, loaded.dtype)
    facts["weight pages"] = pages_fact()
    return facts


def pages_fact() -> str:
    """Where the streamed and integer layouts' weights lie: on 2 MB pages, or why not."""
    state = hugepages.state()
    if not state["placed_bytes"]:
        return "torch's own (only the streamed and integer layouts move their weights)"
    placed, huge = state["placed_bytes"] / 1e6, state["huge_bytes"] / 1e6
    if huge:
        return f"{huge:.0f} of {placed:.0f} MB on 2 MB pages"
    return f"{placed:.0f} MB on 4 KB pages: {state['why_not'] or 'the kernel gave no huge pages'}"


def layout_reason(loaded, asked: str | None) -> str:
    if asked not in (None, "auto"):
        return "asked for"
    if loaded.device != "cpu":
        return f"transformers' own kernels: no CPU layout is built or timed on {loaded.device}"
    if loaded.dtype != "float32":
        return "transformers' own kernels are already flat in the tokens verified off a CPU"
    key, path = layout_choice_file(loaded.name, loaded.device, "float32")
    record = read_record(path, key) or {}
    costs = record.get("ms_steps_of_1_2_4_8_tokens", {})
    timed = ", ".join(
        f"{name} {ms:.0f} ms" for name, ms in sorted(costs.items(), key=lambda x: x[1])
    )
    among = ", ".join(auto_candidates())
    return f"the cheapest of {among} measured here: {timed}" if timed else f"chosen among {among}"


def report(spec: str = "bundled", device=None, dtype=None, layout=None, load=True) -> dict:
    facts = machine_facts(device)
    if load:
        facts.update(model_facts(spec, device, dtype, layout))
    facts.update(cache_facts())
    return facts


def text(facts: dict[str, str]) -> str:
    width = max(len(k) for k in facts)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in facts.items())
