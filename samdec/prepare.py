"""`python -m samdec prepare`: every piece of one-time work for a model, done now rather than
on the app's first request.

The runtime derives a few things once and caches them by key (samdec.runtime.cachefiles): the
de-quantised model, the compiled kernel and its chunking, the layout choice, the static
automaton and the verify-cost curve; numba compiles the automata's code into __pycache__. Each
is done on first use; this command uses them all once, as the app would, so that the app finds
them ready. What the runtime really did (not found in the cache) it announces through
`samdec.runtime.progress`; this module prints each announcement as it comes and times it.

The cache keys hold the OpenMP waiting setting, so the work runs under the app's
(`serving_omp_env`): a layout timed under another setting would be timed again by the app.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .runtime import progress
from .runtime.machine import serving_omp_env

# Every stage the runtime may announce, in the order they come on a fresh machine.
STAGES = (
    "de-quantising",
    "building the kernel",
    "tuning the kernel",
    "timing layouts",
    "building the static automaton",
    "calibrating the cost curve",
)
# Done every time (they check or load what the stages made): timed, but not "work done".
LOADING = "loading the model"
PEAK_MEMORY = "peak resident memory of prepare"  # the summary's line (scripts/first_run.py)
FIRST_GENERATION = "a first short generation"  # numba compiles (or loads) the automata's code
KEY_FACTS = ("cpu features", "native kernels", "model", "layout", "forward", "exact", "cache")
_STEP = re.compile(r" \d+/\d+$")


def stage_name(text: str) -> str:
    """'timing layouts 2/6' -> 'timing layouts'."""
    return _STEP.sub("", text)


@dataclass
class Report:
    """What `prepare` did: seconds by stage (in order), failures, notes, the doctor's facts."""

    seconds: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    total: float = 0.0
    peak_rss_mb: float = 0.0  # this process's peak resident memory (the compiler's is apart)

    @property
    def cached(self) -> list[str]:
        """The stages that did not run: found in the cache, or not needed here."""
        return [s for s in STAGES if s not in self.seconds]


class StageClock:
    """Times the stages the runtime announces, and prints one line as each starts."""

    def __init__(self, report: Report, say: Callable[[str], None]) -> None:
        self.report, self.say = report, say
        self.running: tuple[str, float] | None = None

    def __call__(self, text: str) -> None:
        self.stop()
        self.say(f"prepare: {text}…")
        self.running = (stage_name(text), time.perf_counter())

    def stop(self) -> None:
        """The stage running (if any) ends now."""
        if self.running is not None:
            name, start = self.running
            seconds = self.report.seconds
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            self.running = None


def prepare(
    spec: str = "bundled",
    device: str | None = None,
    dtype: str | None = None,
    layout: str | None = None,
    static: str = "default",
    out: TextIO | None = None,
) -> Report:
    """Do the one-time work for `spec` as the app would load it (`static`: "default" for the
    app's corpus, $SAMDEC_CORPUS or the shipped one; "none"; or a corpus file). A step that
    fails is reported in the Report and the others go on; a model that cannot be loaded raises
    (samdec.runtime.loading.ModelLoadError), as there is nothing else to do without it."""
    from tqdm import tqdm

    from .runtime.loading import load_model, load_tokenizer

    out = out or sys.stderr
    report = Report()
    clock = StageClock(report, lambda line: tqdm.write(line, file=out))
    stop_listening = progress.listen(clock)
    start = time.perf_counter()
    bar = tqdm(total=4, desc="prepare", unit="step", file=out, disable=None, leave=False)
    try:
        # The static automaton first, from the tokenizer alone: building it takes memory of
        # its own, which then is not on top of the model's (and of the layouts' timing).
        clock("loading the tokenizer")
        tokenizer = load_tokenizer(spec)
        built = _step(report, clock, "building the static automaton", _static, tokenizer, static)
        bar.update()
        # Read back from the cache below; a build that failed is reported once, not twice.
        have_static = built is not None
        del built
        clock(LOADING)
        loaded = load_model(spec, device, dtype, layout)
        bar.update()
        automaton = (
            _step(report, clock, "reading the static automaton", _static, loaded.tokenizer, static)
            if have_static
            else None
        )
        engine = _step(report, clock, "calibrating the cost curve", _engine, loaded, automaton)
        bar.update()
        if engine is not None:
            clock(FIRST_GENERATION)
            _step(report, clock, FIRST_GENERATION, _first_generation, engine)
        bar.update()
        clock.stop()
        report.facts = _facts(loaded, layout, report)
    finally:
        bar.close()
        stop_listening()
        progress.clear()
    report.total = time.perf_counter() - start
    report.peak_rss_mb = peak_rss_mb()
    return report


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (0 where it cannot be read)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    except (ImportError, OSError):
        return 0.0


def _step(report: Report, clock: StageClock, what: str, fn: Callable, *args) -> Any:
    """fn(*args), or None with the failure in the report (its kind and first line: no
    traceback; the cause is the user's to fix, e.g. a damaged corpus file)."""
    try:
        return fn(*args)
    except Exception as exc:
        clock.stop()
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        report.failed.append(f"{what} failed: {type(exc).__name__}: {first}")
        return None


def app_corpus() -> Path:
    """The static corpus the app indexes by default (ui.runtime.Runtime.corpus_path)."""
    from .corpus import DEFAULT_CORPUS

    return Path(os.environ.get("SAMDEC_CORPUS") or DEFAULT_CORPUS)


def _static(tokenizer, static: str):
    from .corpus import cached_static
    from .static_automaton import StaticSuffixAutomaton

    if static == "none":
        return None
    path = app_corpus() if static == "default" else Path(static)
    if path.suffix == ".sam":  # a built automaton: nothing to build, only to check
        automaton = StaticSuffixAutomaton.load(path)
    else:
        automaton = cached_static(tokenizer, path)
    automaton.verify()  # as the app does before it uses one
    return automaton


def _engine(loaded, automaton):
    from .stack import engine_for

    return engine_for(loaded, static=automaton)  # calibrates the cost curve once


def _first_generation(engine) -> None:
    from .config import DecodeConfig

    method = "sam+recycling" if engine.static is not None else "sam"
    engine.generate(engine.encode("Say hello."), DecodeConfig(method=method, max_new_tokens=8))


def _facts(loaded, layout: str | None, report: Report) -> dict[str, str]:
    from . import doctor
    from .runtime import native

    if not native.available():
        report.notes.append(f"building the kernel: not here ({native.unavailable()})")
    facts = {**doctor.machine_facts(), **doctor.loaded_facts(loaded, layout)}
    facts.update(doctor.cache_facts())
    return {k: str(facts[k]) for k in KEY_FACTS if k in facts}


def summary(report: Report) -> str:
    """The closing lines: what was done (seconds each), what was not, the key facts."""
    timed = [(name, s) for name, s in report.seconds.items()]
    done = ", ".join(f"{name} {s:.1f} s" for name, s in timed if name in STAGES)
    always = ", ".join(f"{name} {s:.1f} s" for name, s in timed if name not in STAGES)
    lines = [f"prepared in {report.total:.1f} s: {done or 'nothing to do'} (and {always})"]
    if report.cached:
        lines.append("already in the cache (or not needed here): " + ", ".join(report.cached))
    lines += report.notes + report.failed
    if report.peak_rss_mb:
        lines.append(f"{PEAK_MEMORY}: {report.peak_rss_mb:.0f} MB")
    width = max((len(k) for k in report.facts), default=0)
    lines += [f"  {k:<{width}}  {v}" for k, v in report.facts.items()]
    return "\n".join(lines)


def in_serving_environment(argv: list[str]) -> None:
    """Run this command again under the app's OpenMP setting where this process has another
    (the setting is read when torch loads, so it cannot be changed in place)."""
    wanted = serving_omp_env()
    if all(os.environ.get(k) == v for k, v in wanted.items()):
        return
    env = {**os.environ, **wanted}
    os.execve(sys.executable, [sys.executable, "-m", "samdec", *argv], env)
