"""Everything that runs the model, behind one boundary that only plain data crosses.

On a Hugging Face ZeroGPU Space these functions are decorated with `spaces.GPU` and run in a
worker process; elsewhere they are plain functions. They find models in the process-wide
runtime by name. No gradio in this module.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

from samdec.methods import method

from . import runtime as rt

try:  # Hugging Face ZeroGPU Spaces: GPU-bound functions are decorated with spaces.GPU
    import spaces  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    spaces = None

log = logging.getLogger("samdec.app")

TUNE_BIASES = list(range(0, 10))
TUNE_THRESHOLDS = list(range(1, 11))


def gpu(duration: int = 120):
    """spaces.GPU where ZeroGPU is available, else a no-op decorator."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


@gpu()
def gpu_stream(spec: str, ids: list[int], config, cancel: threading.Event | None = None):
    """Decode: yields ("step", StepEvent)..., then ("done", Trace)."""
    run = rt.RUNTIME.engine(spec).stream(ids, config, cancel=cancel, details=True)
    for event in run:
        yield ("step", event)
    yield ("done", run.trace)


@gpu(duration=180)
def gpu_compare(spec: str, ids: list[int], config) -> dict:
    """Plain decoding, prompt lookup (method pld) and `config.method` on one prompt, one after
    the other, all in the engine's loop with the same settings (and seed): only the drafting
    differs. {"ar": Trace, "pld": Trace or None (the method is pld itself), "ours": Trace or
    None (plain decoding), "eos_ids": the tokens that end a generation}."""
    engine = rt.RUNTIME.engine(spec)
    engine.generate(ids, replace(config, method="ar", max_new_tokens=2))  # warm-up
    ar = engine.generate(ids, replace(config, method="ar"), details=True)
    pld = None
    if config.method != "pld":
        pld = engine.generate(ids, replace(config, method="pld"), details=True)
    ours = engine.generate(ids, config, details=True) if method(config.method).drafts else None
    return {"ar": ar, "pld": pld, "ours": ours, "eos_ids": engine.eos_ids}


@gpu(duration=180)
def gpu_tune(spec: str, ids: list[int], config) -> tuple[list[dict], float]:
    """Record this prompt's greedy output once, then replay every (l_bias, l_threshold) on
    this machine's verify-cost curve and on the other curves (tuning.sweep_curves): (one
    panel per curve, seconds the replay took)."""
    from samdec import tuning

    engine = rt.RUNTIME.engine(spec)
    recording = tuning.record(engine, ids, config.max_new_tokens)
    start = time.perf_counter()
    panels = tuning.sweep_curves(
        [recording],
        config,
        tuning.Grid(TUNE_BIASES, TUNE_THRESHOLDS, policies=(config.draft_policy,)),
        engine.cost,
        engine.static if config.use_static else None,
        engine.vocab_size,
    )
    return panels, time.perf_counter() - start


class Pacing:
    """Decoding in lock step with a caller that renders between steps (the live page).

    After each step the decoding thread waits until the caller asks for the next one, so the
    page's work never runs beside a forward pass. Beside one it would slow it (the two threads
    share the GIL, and OpenMP's threads spin while the thread they serve is held up), and the
    run's clock would count the page's work. `held_s` is how long the decoding waited, to be
    taken out of its clock; `decoding_s`, its own time when the last step ended. On ZeroGPU
    the decoding runs in another process and does not wait."""

    def __init__(self) -> None:
        self._asked = threading.Semaphore(0)
        self._let_go = False
        self._start = time.perf_counter()
        self.held_s = 0.0
        self.decoding_s = 0.0

    def start(self) -> None:
        """The decoding thread, once the model is there: its clock starts."""
        self._start = time.perf_counter()

    def step_done(self) -> None:
        self.decoding_s = time.perf_counter() - self._start - self.held_s

    def wait(self, timeout: float) -> bool:
        """The decoding thread, after a step: wait for the caller to ask for the next one.
        False if it did not ask within `timeout`."""
        if self._let_go:
            return True
        began = time.perf_counter()
        asked = self._asked.acquire(timeout=timeout)
        self.held_s += time.perf_counter() - began
        return asked

    def ask(self) -> None:
        """The caller: take the next step."""
        self._asked.release()

    def let_go(self) -> None:
        """No more waiting (the caller is done, or gone)."""
        self._let_go = True
        self._asked.release()


def decode_in_background(
    spec: str, ids: list[int], config, cancel: threading.Event, pacing: Pacing | None = None
) -> Iterator[list[tuple]]:
    """Run the decoding in a worker thread. Yields lists of ("step", event) items as they
    arrive, and finally [("done", trace)], [("error", exception)] or [("stopped", None)].
    Without `pacing` the decoding runs on while the caller works; with it, it waits after each
    step until the caller asks for more (its next `next()`), one step a list. Closing this
    generator stops the decoding; so does a caller that stops asking for ABANDONED_S (a
    client gone away without a word: the server would otherwise decode for nobody)."""
    inbox: queue.Queue = queue.Queue()
    pulled = [time.monotonic()]  # when the caller last took messages
    if pacing is not None and spaces is not None:
        pacing.let_go()  # the decoding is in ZeroGPU's worker process: waiting here holds nothing
    worker = threading.Thread(
        target=_decode,
        args=(spec, ids, config, cancel, inbox, pulled, pacing),
        name="samdec-decode",
        daemon=True,
    )
    worker.start()
    try:
        while True:
            try:
                batch = [inbox.get(timeout=0.25)]
            except queue.Empty:
                pulled[0] = time.monotonic()
                continue
            while True:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            pulled[0] = time.monotonic()
            yield batch
            if batch[-1][0] != "step":
                return
            if pacing is not None:
                pacing.ask()
    finally:
        cancel.set()  # a no-op after the end; stops the worker if the caller went away
        if pacing is not None:
            pacing.let_go()


ABANDONED_S = 30.0  # no consumer for this long: stop decoding (rendering a step takes < 2 s)


def _decode(
    spec, ids, config, cancel: threading.Event, inbox: queue.Queue, pulled, pacing: Pacing | None
) -> None:
    # ZeroGPU's worker process cannot see this Event: there, Stop closes the stream.
    steps = gpu_stream(spec, ids, config, None if spaces is not None else cancel)
    try:
        if pacing is not None:
            if spaces is None:  # the clock starts once the model is loaded (a first run loads it)
                rt.RUNTIME.engine(spec)
            pacing.start()
        for item in steps:
            if pacing is not None:
                pacing.step_done()
            inbox.put(item)
            asked = pacing is None or item[0] != "step" or pacing.wait(ABANDONED_S)
            if not asked or time.monotonic() - pulled[0] > ABANDONED_S:
                log.warning("nobody is reading this generation any more: stopping it")
                cancel.set()
                if pacing is not None:
                    pacing.let_go()
            if cancel.is_set() and spaces is not None:
                steps.close()
                inbox.put(("stopped", None))
                break
    except Exception as exc:  # reported to the user by the caller
        log.exception("generation failed")
        inbox.put(("error", exc))
