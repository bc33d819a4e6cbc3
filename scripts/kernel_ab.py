"""Two builds of the native kernels timed against each other in one process: another revision's
csrc/ (--base) and this checkout's, each loaded into its own copy of the model, their verify
steps (k tokens after CONTEXT cached ones, as scripts/verify_cost.py times them) taken in turns.

    python scripts/kernel_ab.py --base HEAD~1
    python scripts/kernel_ab.py --base 3a0d670 --sizes 1 4 8 --repeats 61 --out /tmp/ab.json
    python scripts/kernel_ab.py --base HEAD --base-small-pages   # huge pages against none

Why one process: on this project's 2-core VMs a step's time moves by 10-30% between minutes and
between processes, more than most kernel changes; two processes run one after the other, or a
kernel timed alone with its data in L2, have said the opposite of what a real step then did.
Within one process, in turns, a slow minute slows both builds alike.

Only the kernels differ: the Python side (the cache, the forward) is this checkout's for both.
The logits of both builds at the largest size are compared too: a change meant to keep every
bit says so. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/verify_cost.py

import torch
from verify_cost import CONTEXT, Step, interleaved_curves, load_runner, with_round_trip

from samdec import receipts
from samdec.runtime import hugepages, native

ROOT = Path(__file__).resolve().parents[1]

# Revisions before the bindings' classes were module-local: two builds of them cannot share a
# process, so their copy is patched the same way (nothing else in it changes).
CLASSES = ('py::class_<Linear>(m, "Linear")', 'py::class_<Layers>(m, "Layers")')


def export_sources(revision: str, folder: Path) -> None:
    """The kernel's units and header at `revision` into `folder`."""
    for path in [*native.SOURCES, *native.HEADERS]:
        relative = path.relative_to(ROOT).as_posix()
        text = subprocess.run(
            ["git", "show", f"{revision}:{relative}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (folder / path.name).write_text(module_local(text))


def module_local(text: str) -> str:
    """The bindings' classes made module-local (a no-op where they already are)."""
    for bound in CLASSES:
        text = text.replace(bound, bound[:-1] + ", py::module_local())")
    return text


def small_pages(wanted: bool):
    """Weights loaded meanwhile stay on torch's 4 KB pages, where `wanted`."""
    return mock.patch.dict(os.environ, {hugepages.OFF: "0"} if wanted else {})


def same_logits(steps: dict[str, Step], k: int) -> bool:
    """Whether every build gives the same logits, bit for bit, for one k-token chain."""
    ids = torch.randint(0, 49152, (k,), generator=torch.Generator().manual_seed(0)).tolist()
    parents = list(range(-1, k - 2))  # a chain of draft nodes after the start token, as Step's
    outs = []
    for step in steps.values():
        with torch.no_grad():
            outs.append(step.runner.verify(step.cache, ids, parents).clone())
        step.cache.crop(-k)
    return all(torch.equal(outs[0], out) for out in outs[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD", help="the revision whose kernels to time against")
    parser.add_argument("--layout", default="integer")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument(
        "--base-small-pages",
        action="store_true",
        help="the base copy's weights on 4 KB pages (samdec.runtime.hugepages off for it)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        export_sources(args.base, Path(folder))
        with native.sources_from(Path(folder)), small_pages(args.base_small_pages):
            base = load_runner("bundled", args.layout, "float32")
        tree = load_runner("bundled", args.layout, "float32")
    steps = {}
    for name, runner in (("base", base), ("tree", tree)):
        torch.manual_seed(0)  # the same cached context (Step's prefill draws its tokens)
        steps[name] = Step(runner)
    # verify_cost's own timing (builds and sizes in turn within each repeat), with the cores'
    # round trip, which moves the 8-token step most
    curves, round_trip = with_round_trip(
        lambda: interleaved_curves(list(steps.values()), args.sizes, args.repeats)
    )
    medians = dict(zip(steps, curves, strict=True))
    first = args.sizes[0]
    for name, curve in medians.items():
        ratios = " ".join(f"{curve[k] / curve[first]:.2f}x" for k in args.sizes[1:])
        ms = "  ".join(f"k={k} {curve[k]:.2f} ms" for k in args.sizes)
        print(f"{name}: {ms}  (against k={first}: {ratios})")
    change = " ".join(
        f"k={k} {medians['tree'][k] / medians['base'][k] - 1:+.1%}" for k in args.sizes
    )
    identical = same_logits(steps, max(args.sizes))
    print(f"tree against base ({args.base}): {change}; logits bit for bit the same: {identical}")
    if round_trip:
        print(f"core to core and back: {round_trip} ns")
    if args.out:
        result = {
            "base": args.base,
            "base_small_pages": args.base_small_pages,
            "layout": args.layout,
            "context": CONTEXT,
            "repeats": args.repeats,
            "ms": {name: {str(k): v for k, v in curve.items()} for name, curve in medians.items()},
            "same_logits": identical,
            "core_round_trip_ns": round_trip,
            "receipt": receipts.receipt(),
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
