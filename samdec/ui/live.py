"""The live run: Generate streams the output and every panel while the model decodes.

`generate_updates` is the handler, testable without a server: it takes the request's values by
name and yields updates by panel name.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gradio as gr

import visuals as V
from samdec.trace import Trace
from visuals.view import LIVE_PAGE

from . import runtime as rt
from .admission import Cancelled
from .automaton_view import keep_tab, select_tab
from .common import by_component, error_notice
from .controls import Controls
from .device import Pacing, decode_in_background
from .errors import UserError
from .panels import STEP_PANELS, Session, notice_html, render, showcase_step
from .request import Prepared, prepare, read_request

# While decoding, in decoding time: the text and the stat cards at most this often, the
# figures at most this often...
LIVE_STREAM_EVERY_S = 0.2
LIVE_FIGURE_EVERY_S = 1.5
# ...and less often when the last such update cost more than this share of the decoding time
# since (a long text, figures on a slow machine). The decoding waits while the page works
# (device.Pacing), so this bounds what the page adds to a run.
LIVE_PAGE_SHARE = 0.05

STREAM_JS = """
element.addEventListener('click', (e) => {
  const t = e.target.closest('[data-step]');
  if (t) { trigger('click', {step: parseInt(t.dataset.step, 10)}); }
});
const follow = () => {
  const box = element.querySelector('.sd-stream');
  if (!box) return;
  const sel = box.querySelector('.sd-sel');
  if (box.querySelector('.sd-caret') || !sel) { box.scrollTop = box.scrollHeight; }
  else { box.scrollTop = Math.max(0, sel.offsetTop - box.clientHeight / 2); }
};
watch('value', follow);
"""


@dataclass
class Output:
    notice: gr.HTML
    stats: gr.HTML
    stream: gr.HTML


def build_output() -> Output:
    """The notice line, the stat cards and the token stream."""
    notice = gr.HTML("", elem_id="sd-notice")
    stats = gr.HTML(V.stats_html(V.TraceView([], [])), elem_id="sd-stats")
    gr.HTML(
        '<div class="sd-panel-title">Output <small>· each token coloured by '
        "where it came from; struck through: drafted tokens the model "
        "rejected; hover for details, click to inspect a step</small></div>"
    )
    stream = gr.HTML(V.stream_html(V.TraceView([], [])), js_on_load=STREAM_JS, elem_id="sd-stream")
    return Output(notice, stats, stream)


def wire(controls: Controls, outputs: Mapping[str, Any], session: gr.State) -> None:
    """Generate and Stop. `outputs`: every component the run updates, by panel name."""
    names = ("notice", "stats", "slider", "download", "session", *STEP_PANELS)

    def on_generate(data: dict, request: gr.Request) -> Iterator[dict]:
        values = {**controls.values(data), "max_states": data[controls.max_states]}
        for update in generate_updates(values, data[session], request.session_hash):
            yield by_component(outputs, select_tab(update))

    controls.generate.click(
        on_generate,
        inputs={*controls.inputs(), controls.max_states, session},
        outputs=[outputs[n] for n in names],
        api_visibility="private",
        concurrency_limit=None,  # the runtime's Admission bounds the model work
        concurrency_id="model",
        show_progress="hidden",
    )
    controls.stop.click(stop, inputs=[session], api_visibility="private", queue=False)


def stop(session: Any) -> None:
    if isinstance(session, Session):
        session.cancel.set()


def generate_updates(
    values: Mapping[str, Any], session: Any, owner: str | None = None
) -> Iterator[dict[str, Any]]:
    """The Generate button: stream every panel while decoding, then enable the replay.
    `values`: the request by name (see request.read_request) and `max_states`; `owner`: the
    browser session, whose closing stops the decoding."""
    session = session if isinstance(session, Session) else Session()
    runtime = rt.RUNTIME
    try:
        model = runtime.offered(values.get("model"))
        yield from _warming_updates(runtime, model, session)
        if not runtime.is_loaded(model):
            message = f"Loading model {model}… (once per process)"
            yield {"notice": notice_html([message]), "session": session}
        prepared = prepare(read_request(values))
    except Exception as exc:  # never a traceback in the page
        yield {"notice": error_notice(exc, "Preparing the generation"), "session": session}
        return
    session.cancel = threading.Event()
    session.model = prepared.spec
    max_states = values.get("max_states")
    try:
        with runtime.admission.turn(session.cancel, owner) as cancel:
            outcome = yield from _decode_live(prepared, session, max_states, cancel)
        # Out of the turn before the last update: the next request may start at once.
        yield _last_update(prepared, session, outcome, max_states)
    except Cancelled:
        yield {"notice": notice_html(["Stopped before decoding started."]), "session": session}
    except UserError as exc:  # the server is busy
        yield {"notice": error_notice(exc, ""), "session": session}


WARMING_POLL_S = 0.5  # how often the notice checks the warm-up's stage


def _warming_updates(runtime: rt.Runtime, model: str, session: Session) -> Iterator[dict]:
    """While the first model is being prepared (app start-up): the stage it is at, each time
    it changes, until it is ready. The page waits as long as that takes, since it shows how
    it goes; an API call waits a bounded time (Runtime.ready)."""
    status = runtime.warming
    shown = None
    while model == runtime.models[0] and status.running:
        if status.stage != shown:
            shown = status.stage
            yield {"notice": notice_html([f"Preparing the model: {shown}…"]), "session": session}
        status.wait(WARMING_POLL_S)


def on_unload(request: gr.Request) -> None:
    """A closed or reloaded tab: stop its decoding at the next step."""
    rt.RUNTIME.admission.cancel_owner(request.session_hash)


def _decode_live(
    prepared: Prepared, session: Session, max_states: Any, cancel: threading.Event
) -> Generator[dict, None, _Outcome]:
    """Updates while decoding; returns what the decoding thread sent. The decoding waits while
    an update is drawn and sent (Pacing): its clock, and the speed shown, are its own."""
    live = _LiveView(prepared)
    session.view = live.view([])
    yield {
        "notice": notice_html(prepared.notes),
        "stream": V.stream_html(session.view, running=True),
        "stats": V.stats_html(session.view),
        "session": session,
    }
    outcome, pacing = _Outcome(), Pacing()
    text, figures = _Cadence(LIVE_STREAM_EVERY_S), _Cadence(LIVE_FIGURE_EVERY_S, last_s=0.0)
    p = prepared
    try:
        for batch in decode_in_background(p.spec, p.ids, p.config, cancel, pacing):
            began = time.perf_counter()
            if outcome.take(batch):
                break
            now = pacing.decoding_s
            drawn = figures if figures.due(now) else text if text.due(now) else None
            if drawn is None:
                continue
            session.view = live.view(outcome.events, now, live.page_s)
            update = {
                "stream": V.stream_html(session.view, running=True),
                "stats": V.stats_html(session.view),
            }
            if drawn is figures:
                # the tab stays the visitor's while the steps run by
                update.update(keep_tab(render(session, None, max_states, running=True)))
            yield update  # the next step waits until gradio has sent this and asks for more
            cost = time.perf_counter() - began
            live.page_s += cost
            drawn.done(now, cost)
            text.last_s = now
    except Exception as exc:  # rendering failed: keep the server and the session alive
        rt.log.exception("live rendering failed")
        outcome.error = exc
    outcome.held_s, outcome.page_s = pacing.held_s, live.page_s
    outcome.view = live.view(outcome.events, pacing.decoding_s, live.page_s)
    return outcome


@dataclass
class _Cadence:
    """When a kind of live update is next due, in decoding time: `every_s` after the last one,
    or later when that one cost more than LIVE_PAGE_SHARE of the time between them."""

    every_s: float
    last_s: float = -math.inf  # decoding time of the last update
    cost_s: float = 0.0  # what the last update cost the page

    def due(self, now_s: float) -> bool:
        return now_s - self.last_s >= max(self.every_s, self.cost_s / LIVE_PAGE_SHARE)

    def done(self, now_s: float, cost_s: float) -> None:
        self.last_s, self.cost_s = now_s, cost_s


def _last_update(prepared: Prepared, session: Session, outcome: _Outcome, max_states) -> dict:
    if outcome.trace is None:
        session.view = outcome.view
        return _unfinished(session, outcome.error, max_states)
    return _finished(prepared, session, outcome, max_states)


@dataclass
class _Outcome:
    """What the decoding thread has sent so far."""

    events: list = field(default_factory=list)
    trace: Trace | None = None
    error: Exception | None = None
    stopped: bool = False  # without a trace (ZeroGPU)
    view: V.TraceView | None = None  # the steps so far, for a run without a trace
    held_s: float = 0.0  # how long the decoding waited for the page
    page_s: float = 0.0  # the page's own work while decoding

    def take(self, batch: list[tuple]) -> bool:
        """Add a batch of messages; True once the run has ended."""
        for kind, item in batch:
            if kind == "step":
                self.events.append(item)
            elif kind == "done":
                self.trace = item
            elif kind == "error":
                self.error = item
            else:
                self.stopped = True
        return self.trace is not None or self.error is not None or self.stopped


class _LiveView:
    """TraceViews of a run in progress (the prompt's token texts looked up once)."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        piece = rt.RUNTIME.piece_fn(prepared.spec)
        self.pieces = {t: piece(t) for t in set(prepared.ids)}
        self.page_s = 0.0  # the page's own work so far: drawing and sending updates

    def view(self, events: list, decoding_s: float = 0.0, page_s: float = 0.0) -> V.TraceView:
        p = self.prepared
        return V.TraceView.from_events(
            p.ids,
            events,
            p.settings,
            self.pieces,
            decoding_ms=decoding_s * 1000.0,
            prompt=p.request.prompt,
            page_ms=page_s * 1000.0,
        )


def _unfinished(session: Session, error: Exception | None, max_states: Any) -> dict:
    """The update for a run that ended without a trace: stopped, or failed."""
    if error is None:
        notice = notice_html([f"Stopped after {len(session.view.token_ids)} tokens."])
    else:
        # the error's text may name the server's files: it is in the log, not on the page
        notice = error_notice(UserError("Decoding stopped with an error (logged)."), "")
    return {"notice": notice, "session": session, **render(session, None, max_states)}


def _finished(prepared: Prepared, session: Session, outcome: _Outcome, max_states: Any) -> dict:
    """The update for a finished run: every panel at the showcase step, replay enabled; its
    speed is decoding's alone, and the page's work (drawing it included) is on a card."""
    began = time.perf_counter()
    trace = decoding_alone(outcome.trace, outcome.held_s)
    session.view = V.TraceView.from_trace(trace, prompt=prepared.request.prompt)
    notes = list(prepared.notes)
    if trace.summary.stop_reason == "cancelled":
        notes.append(f"Stopped after {trace.summary.new_tokens} tokens.")
    if trace.summary.config.get("note"):
        notes.append(str(trace.summary.config["note"]))
    n = len(trace.steps)
    best = showcase_step(session.view)
    if best != n - 1:
        notes.append(
            f"Showing step {best}, the one that kept the most drafted tokens: drag the step "
            "slider or press ▶ to replay from the start."
        )
    panels = render(session, best, max_states, running=True)
    stream = V.stream_html(session.view, selected=best)
    page_ms = (outcome.page_s + time.perf_counter() - began) * 1000.0
    trace.summary.config[LIVE_PAGE]["page_ms"] = round(page_ms, 1)
    session.view.page_ms = page_ms
    session.file = write_trace_file(trace)
    return {
        **panels,
        "stream": stream,
        "notice": notice_html(notes),
        "stats": V.stats_html(session.view),
        "slider": gr.Slider(minimum=0, maximum=max(n - 1, 1), value=best, interactive=True),
        "download": gr.DownloadButton(value=session.file, interactive=True),
        "session": session,
    }


def decoding_alone(trace: Trace, held_s: float) -> Trace:
    """The trace with the time its decoding waited for the live page taken out of its clock,
    and that time recorded (config[LIVE_PAGE]): its speed is decoding's own, as through the
    API."""
    s = trace.summary
    waited_ms = held_s * 1000.0
    decode_ms = max(s.decode_ms - waited_ms, 0.0)
    seconds = (s.prefill_ms + decode_ms) / 1000.0
    summary = replace(
        s,
        decode_ms=decode_ms,
        tokens_per_s=s.new_tokens / seconds if seconds > 0 else 0.0,
        config={**s.config, LIVE_PAGE: {"waited_ms": round(waited_ms, 1)}},
    )
    return replace(trace, summary=summary)


TRACE_FILES_KEPT = 200  # trace downloads kept on disk; older ones are deleted
_TRACE_DIR: list[Path] = []  # this process's folder for them, made on first use


def write_trace_file(trace: Trace) -> str:
    """The trace as a JSON file for the download button (the oldest files go first)."""
    if not _TRACE_DIR:
        _TRACE_DIR.append(Path(tempfile.mkdtemp(prefix="samdec-traces-")))
    folder = _TRACE_DIR[0]
    name = f"samdec-trace-{trace.summary.method}-{time.time_ns()}.json"
    path = folder / name
    path.write_text(trace.to_json(ensure_ascii=False, indent=1), encoding="utf-8")
    files = sorted(folder.glob("samdec-trace-*.json"), key=lambda f: f.stat().st_mtime)
    for old in files[:-TRACE_FILES_KEPT]:
        old.unlink(missing_ok=True)
    return str(path)
