"""Render the documents' measured numbers from the committed artifacts under benchmarks/.

    python scripts/render_readme.py                 # rewrite the generated blocks in place
    python scripts/render_readme.py --check         # exit 1 and print a diff when a document is
                                                    # stale, or name a measured number outside
                                                    # the blocks or a chart that is stale
    python scripts/render_readme.py --check FILE    # the same for one file (a copy, say)

The documents are README.md (the headline numbers), benchmarks/README.md (every table) and
docs/*.md (explanations: no blocks, and no measured numbers either). A generated block is
`<!-- receipt: NAME -->` ... `<!-- /receipt -->`; NAME picks a renderer (BLOCKS) that turns the
artifacts it reads into Markdown: the tables and every sentence that carries a number, with the
command, date and machine of the run. A block whose artifact is not committed yet says how to
make it, and carries no number. tests/test_readme.py checks that the documents are what this
renders, that no measured-looking number stands outside a block, and that every artifact a
block quotes has a receipt from committed code.

The renderers live beside this file, one module per subject: readme_format (numbers, tables,
receipts), readme_specbench, readme_tuning, readme_automaton, readme_verify_cost,
readme_scaling, readme_load_test, readme_first_run, readme_live_overhead, readme_anchor,
readme_ablations (whose charts, SVG files under benchmarks/ drawn by readme_plots, are written
and checked here too).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the renderers beside this file, however it was loaded
    sys.path.append(str(HERE))  # last: nothing else is shadowed by a script's name
if str(HERE.parent) not in sys.path:  # samdec, uninstalled: the bench's own (torch-free) sums
    sys.path.append(str(HERE.parent))

from readme_ablations import FIGURE_DIR, ablation_figures, ablations  # noqa: E402
from readme_anchor import anchor, anchor_headline  # noqa: E402
from readme_automaton import automaton, build_text  # noqa: E402
from readme_first_run import first_run  # noqa: E402
from readme_format import made_from_committed_code  # noqa: E402
from readme_live_overhead import live_overhead  # noqa: E402
from readme_load_test import LOAD_RUNS, load_test  # noqa: E402
from readme_scaling import huge_pages, verify_scaling  # noqa: E402
from readme_specbench import LAYOUT_RUNS, headline, layouts, specbench  # noqa: E402
from readme_tuning import defaults_tuning, pld_tuning, sampling_mat, tuning_validation  # noqa: E402
from readme_verify_cost import verify_cost  # noqa: E402

ROOT = HERE.parent
README = ROOT / "README.md"
BENCH = ROOT / "benchmarks"
BENCH_README = BENCH / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(r"<!-- receipt: ([\w-]+) -->\n.*?<!-- /receipt -->", re.S)


def documents() -> list[Path]:
    """Every document this renders and checks: README.md, benchmarks/README.md, docs/*.md."""
    return [README, BENCH_README, *sorted(DOCS.glob("*.md"))]


class Block:
    """A generated block: the artifacts it reads (the first required), the command that makes
    the first, and the function that renders them."""

    def __init__(self, files: Iterable[str], command: str, fn: Callable[[dict], str]) -> None:
        self.files, self.command, self.fn = tuple(files), command, fn


SPECBENCH_COMMAND = (
    "python -m samdec bench --per-category 10 --max-new-tokens 256 --out benchmarks/specbench.json"
)
BLOCKS = {
    "headline": Block(["specbench.json"], SPECBENCH_COMMAND, headline),
    "specbench": Block(["specbench.json"], SPECBENCH_COMMAND, specbench),
    "load-test": Block(
        ["load_test.json", "load_test_passive.json", *LOAD_RUNS],
        "python scripts/load_test.py --clients 8 --requests 40 --rounds 2",
        load_test,
    ),
    "pld-tuning": Block(
        ["pld_tuning.json"],
        "python scripts/tune_pld.py --out benchmarks/pld_tuning.json",
        pld_tuning,
    ),
    "defaults-tuning": Block(
        ["defaults_tuning.json"],
        "python scripts/tune_defaults.py --per-source 8 --max-new-tokens 256 "
        "--out benchmarks/defaults_tuning.json",
        defaults_tuning,
    ),
    "sampling-mat": Block(
        ["sampling_mat.json"],
        "python scripts/sampling_mat.py --out benchmarks/sampling_mat.json",
        sampling_mat,
    ),
    "automaton": Block(
        ["automaton.json"],
        "python scripts/bench_automaton.py --out benchmarks/automaton.json",
        automaton,
    ),
    "build-text": Block(
        ["build_text.json"],
        "python scripts/bench_build_text.py --out benchmarks/build_text.json",
        build_text,
    ),
    "layouts": Block(
        LAYOUT_RUNS,
        "python -m samdec bench --per-category 3 --max-new-tokens 256 "
        "--methods ar,sam,sam+recycling --layout LAYOUT --out benchmarks/layouts/LAYOUT.json",
        layouts,
    ),
    "verify-cost": Block(
        ["verify_cost.json"],
        "python scripts/verify_cost.py --out benchmarks/verify_cost.json",
        verify_cost,
    ),
    "huge-pages": Block(
        ["huge_pages.json"],
        "python scripts/kernel_ab.py --base HEAD --base-small-pages --repeats 41 "
        "--out benchmarks/huge_pages.json",
        huge_pages,
    ),
    "verify-scaling": Block(
        ["verify_scaling.json"],
        "python scripts/verify_scaling.py --windows 200 --out benchmarks/verify_scaling.json",
        verify_scaling,
    ),
    "ablations": Block(
        ["ablations.json"],
        "python scripts/ablations.py --per-category 4 --max-new-tokens 256 --measure "
        "--out benchmarks/ablations.json",
        ablations,
    ),
    "anchor": Block(
        ["anchor.json"],
        "python scripts/anchor_llamacpp.py --out benchmarks/anchor.json",
        anchor,
    ),
    "anchor-headline": Block(
        ["anchor.json"],
        "python scripts/anchor_llamacpp.py --out benchmarks/anchor.json",
        anchor_headline,
    ),
    "live-overhead": Block(
        ["live_overhead.json"],
        "python scripts/live_overhead.py --out benchmarks/live_overhead.json",
        live_overhead,
    ),
    "first-run": Block(
        ["first_run.json"], "python scripts/first_run.py --out benchmarks/first_run.json", first_run
    ),
    "tuning-validation": Block(
        ["tuning_validation.json"],
        "python scripts/validate_tuning.py --per-category 2 --max-new-tokens 256 "
        "--out benchmarks/tuning_validation.json",
        tuning_validation,
    ),
}


# Charts drawn from an artifact, written as files under benchmarks/ (the README shows them as
# images): the artifact, and its charts as {path under benchmarks/: text}.
FIGURES = {"ablations.json": ablation_figures}
FIGURE_DIRS = (FIGURE_DIR,)  # folders holding nothing but rendered charts


def figures(bench: Path = BENCH) -> dict[str, str]:
    """Every chart the committed artifacts draw, by path under `bench`."""
    out: dict[str, str] = {}
    for name, draw in FIGURES.items():
        artifact = load(bench / name)
        if artifact is not None:
            out |= draw(artifact)
    return out


def stale_figures(bench: Path = BENCH) -> list[str]:
    """'PATH: why' for each chart that is missing, differs from what its artifact draws, or
    is left over in a chart folder from an artifact that no longer draws it."""
    wanted = figures(bench)
    problems = []
    for rel, text in wanted.items():
        path = bench / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.read_text() != text:
            problems.append(f"{rel}: differs from what its artifact draws")
    for folder in FIGURE_DIRS:
        for path in sorted((bench / folder).glob("*.svg")):
            if path.relative_to(bench).as_posix() not in wanted:
                problems.append(f"{path.relative_to(bench).as_posix()}: no artifact draws it")
    return problems


def write_figures(bench: Path = BENCH) -> None:
    """Write every chart anew and remove the chart folders' left-over ones."""
    wanted = figures(bench)
    for rel, text in wanted.items():
        path = bench / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    for folder in FIGURE_DIRS:
        for path in (bench / folder).glob("*.svg"):
            if path.relative_to(bench).as_posix() not in wanted:
                path.unlink()


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def render_block(name: str, bench: Path = BENCH) -> str:
    if name not in BLOCKS:
        raise ValueError(f"block {name!r} is not one of {', '.join(BLOCKS)}")
    block = BLOCKS[name]
    arts = {f: load(bench / f) for f in block.files}
    if arts[block.files[0]] is None:
        return f"Not measured in a committed run yet: `{block.command}`."
    return block.fn(arts)


def render(text: str, bench: Path = BENCH) -> str:
    """`text` with every generated block rendered anew from the artifacts in `bench`."""

    def fill(m: re.Match) -> str:
        body = render_block(m.group(1), bench)
        return f"<!-- receipt: {m.group(1)} -->\n\n{body}\n\n<!-- /receipt -->"

    return BLOCK.sub(fill, text)


def blocks_in(text: str) -> list[str]:
    """The names of the generated blocks in `text`, in order."""
    return BLOCK.findall(text)


def quoted_artifacts(texts: Iterable[str], bench: Path = BENCH) -> list[str]:
    """The artifacts (paths under `bench`) that the blocks of `texts` read and that exist."""
    names = [f for text in texts for block in blocks_in(text) for f in BLOCKS[block].files]
    return sorted({f for f in names if (bench / f).is_file()})


def uncommitted(names: Iterable[str], bench: Path = BENCH) -> list[str]:
    """Those of `names` whose receipt does not say they were made from committed code (files
    from before receipts carry no commit, and are not counted here)."""
    arts = {name: load(bench / name) for name in names}
    return [n for n, a in arts.items() if "receipt" in a and not made_from_committed_code(a)]


# -----------------------------------------------------------------------------
# numbers outside the blocks

# A measured-looking number: digits with a unit of time, speed, size or ratio, or a decimal.
MEASURED = re.compile(
    r"\d[\d,]*(?:\.\d+)?(?:x\b|%|\s*(?:M\s+)?tokens/s\b|\s*tokens\s+per\s+(?:second|step|position)"
    r"|\s*(?:[µu]s|ms|s|seconds?|minutes?|hours?|[KMG]i?B|bytes)\b)|\b\d+\.\d+"
)
# Phrases that look measured but are settings or names, not measurements. Keep this short.
ALLOWED = (
    "arXiv 2411.10666",  # the paper's arXiv id
    "Python 3.10 or newer",  # the interpreter the package requires (pyproject.toml)
    "Apache-2.0",  # a licence's name
    "refused above 20 MB",  # the app's size limit for uploaded traces (a setting)
    "any more (30 s)",  # how long an unread stream lives (a setting)
    "idle ones for 6 hours",  # how long an idle session is kept (a setting)
)
# Front matter (the Space's settings), fenced code, web addresses and the generated blocks.
HIDDEN = re.compile(r"\A---\n.*?\n---\n|^```.*?^```|https?://[^\s)]+|" + BLOCK.pattern, re.S | re.M)


def stray_numbers(text: str) -> list[str]:
    """'line N: MATCH' for each measured-looking number outside blocks, code and front matter."""
    text = HIDDEN.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for phrase in ALLOWED:
        words = r"\s+".join(map(re.escape, phrase.split()))
        text = re.sub(words, lambda m: "\n" * m.group(0).count("\n"), text)
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for m in MEASURED.finditer(text)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff if a file is stale")
    ap.add_argument("--bench", type=Path, default=BENCH, help="the artifacts' folder")
    ap.add_argument("files", nargs="*", type=Path, help="default: every document")
    args = ap.parse_args()
    failed = False
    for path in args.files or documents():
        text = path.read_text()
        new = render(text, args.bench)
        stray = stray_numbers(new)
        if args.check:
            where = path.name if path.parent == ROOT else str(path)
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(True), new.splitlines(True), where, "rendered from benchmarks/"
                )
            )
            failed |= new != text or bool(stray)
        elif new != text:
            path.write_text(new)
        for line in stray:
            print(f"{path}: measured-looking number outside a generated block, {line}")
    if args.check:
        stale = stale_figures(args.bench)
        for line in stale:
            print(f"{args.bench}/{line} (run python scripts/render_readme.py)")
        failed |= bool(stale)
    else:
        write_figures(args.bench)
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
