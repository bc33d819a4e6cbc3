"""A lean forward pass for llama models: transformers' arithmetic without its per-call machinery.

A step of the bundled model (30 layers of width 576) is ~1,400 small torch ops. transformers
wraps them in ~400 module calls, decorators (argument renaming, output capture, gradient
checkpointing), a mask and an attention-function lookup per layer, which plain and speculative
decoding pay alike. `LeanForward` runs the same torch ops, in the same order, on the same
weights and cache, and skips the rest: transformers' own function builds the mask; the choices
its attention function makes (grouped heads, the causal flag) are taken once a step instead of
once a layer, and where it would copy or regroup heads its own function runs; rotary cos and
sin get their head axis once a step. On it the engine's plain loop ran faster than stock
`generate` on the same weights, where on transformers' forward it barely did
(benchmarks/specbench.json has the Spec-Bench run), and taking the per-step choices once a step
instead of once a layer saved a few percent of a step more.

In the streamed layout (layouts.py.StreamedLinear), `native_layers` hands the decoder
layers to csrc/layers.cpp, which calls the same torch ops in the same order from C++:
every step after the prefill runs its 30 layers in one call instead of ~1,400 Python calls.
That takes a large share off a 1-token step of the bundled model, where those calls weighed
most, and less off a step of several tokens, where the arithmetic weighs more. The norms' and
the rotary embeddings' element-wise arithmetic it writes out, per element as torch rounds it
(layers.cpp says why).

Same ops in the same order give the same bits, and `lean_forward` does not take that on
trust: before the engine uses it, it runs a prefill, chain steps and a tree step through both
forwards and keeps the lean one only if every logit is bit-identical (the C++ layers first;
where they differ, the Python ones). Anything it does not know (another architecture, sliding
windows, another attention implementation) keeps transformers' forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import NAME as ROW_ATTENTION
from .attention import row_attention_forward, runs_row_attention
from .coded import STREAM_ROWS
from .kvcache import GrowingLayer, cache_keyword, new_cache
from .layouts import PackedMLP, PackedQKV, StreamedLinear
from .masks import tree_inputs
from .native import LOG, kernel


def _rms_norm(norm: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """transformers' LlamaRMSNorm.forward, op for op; its casts to and from float32 are no-ops
    on float32 states, and skipped there."""
    dtype = hidden.dtype
    if dtype != torch.float32:
        hidden = hidden.to(torch.float32)
    variance = hidden.pow(2).mean(-1, keepdim=True)
    hidden = hidden * torch.rsqrt(variance + norm.variance_epsilon)
    return norm.weight * (hidden if dtype == torch.float32 else hidden.to(dtype))


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """transformers' llama `apply_rotary_pos_emb` for one tensor, op for op, with cos and sin
    already given a head axis (once a step, not twice a layer)."""
    half = x.shape[-1] // 2
    return (x * cos) + (torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin)


def _linear(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What `module(x)` computes, without the module call: `F.linear` for a plain `nn.Linear`,
    a layout's own forward (layouts.py) for the others."""
    if type(module) is nn.Linear:
        return F.linear(x, module.weight, module.bias)
    return module.forward(x)


def _act(act_fn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return F.silu(x) if type(act_fn) is nn.SiLU else act_fn(x)


def _mlp(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """transformers' LlamaMLP.forward, op for op; a fused layout's MLP (layouts.py) by its
    own forward."""
    if not hasattr(mlp, "gate_proj"):
        return mlp.forward(x)
    gate = _act(mlp.act_fn, _linear(mlp.gate_proj, x))
    return _linear(mlp.down_proj, gate * _linear(mlp.up_proj, x))


def _projections(attn: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """q, k and v of `x`: one stacked call in a fused layout (`PackedQKV`), three otherwise."""
    if type(attn.q_proj) is PackedQKV:
        return attn.q_proj.projections(x)
    return _linear(attn.q_proj, x), _linear(attn.k_proj, x), _linear(attn.v_proj, x)


@dataclass
class _Step:
    """What every layer of one step shares: computed once a step, not once a layer."""

    mask: torch.Tensor | None
    cos: torch.Tensor  # rotary cos and sin, with a head axis
    sin: torch.Tensor
    causal: bool  # transformers' is_causal: several tokens and no mask
    grouped: bool | None = None  # SDPA reads grouped key/value heads itself (set by layer 0)


class LeanForward:
    """model(input_ids=..., cache=...).logits, computed as transformers' llama forward does;
    with `native` (csrc/layers.cpp's `Layers`, see `native_layers`), the decoder layers
    of a step after the prefill run from C++, the same torch ops in the same order."""

    def __init__(self, model: nn.Module, native=None) -> None:
        from transformers.integrations.sdpa_attention import (
            sdpa_attention_forward,
            use_gqa_in_sdpa,
        )
        from transformers.masking_utils import create_causal_mask

        self.model = model
        self.core = model.model
        self.native = native
        self.groups = getattr(self.core.layers[0].self_attn, "num_key_value_groups", 1)
        # attention.py's row kernel where the model runs it: it reads grouped heads itself.
        self.rows = runs_row_attention(model)
        self._mask, self._grouped, self._attend = (
            create_causal_mask,
            use_gqa_in_sdpa,
            sdpa_attention_forward,
        )

    def __call__(
        self,
        input_ids: torch.Tensor,
        cache,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        logits_to_keep: int = 0,
    ) -> torch.Tensor:
        """Logits (1, tokens, vocab) of `input_ids` (1, tokens) after what `cache` holds."""
        hidden = self.hidden(input_ids, cache, attention_mask, position_ids)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:, :]
        return self.head(hidden)

    @property
    def kind(self) -> str:
        """Which forward this is: "lean", or "lean-cpp" where a step's layers run from C++."""
        return "lean" if self.native is None else "lean-cpp"

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer: logits of what `hidden` returns."""
        return _linear(self.model.lm_head, hidden)

    def hidden(
        self,
        input_ids: torch.Tensor,
        cache,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The last hidden states (1, tokens, width), normed, before the output layer."""
        core = self.core
        hidden = core.embed_tokens(input_ids)
        if position_ids is None:
            past = cache.get_seq_length()
            position_ids = (torch.arange(hidden.shape[1], device=hidden.device) + past).unsqueeze(0)
        mask = self._mask(
            config=self.model.config,
            inputs_embeds=hidden,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        cos, sin = core.rotary_emb(hidden, position_ids=position_ids)
        step = _Step(mask, cos.unsqueeze(1), sin.unsqueeze(1), hidden.shape[1] > 1 and mask is None)
        rooms = self._native_rooms(cache, hidden, step)
        if rooms is not None:
            hidden, seen = self.native.run(
                hidden, step.cos, step.sin, step.mask, step.causal, *rooms
            )
            for layer, keys, values in zip(cache.layers, seen[::2], seen[1::2], strict=True):
                layer.keys, layer.values = keys, values  # what GrowingLayer.update leaves
            return _rms_norm(core.norm, hidden)
        for index, layer in enumerate(core.layers):
            hidden = hidden + self._attention(
                layer.self_attn, index, _rms_norm(layer.input_layernorm, hidden), step, cache
            )
            hidden = hidden + _mlp(layer.mlp, _rms_norm(layer.post_attention_layernorm, hidden))
        return _rms_norm(core.norm, hidden)

    def _native_rooms(self, cache, hidden: torch.Tensor, step: _Step) -> tuple | None:
        """(each layer's key buffers, value buffers, tokens cached) with room made for this
        step, where `native` can run it: a step of at most STREAM_ROWS tokens after a prefill,
        every cache layer a GrowingLayer holding the same length, grouped heads read in place
        (as `_sdpa` would). None: the layers run here, in Python."""
        layers = cache.layers
        if (
            self.native is None
            or hidden.shape[1] > STREAM_ROWS
            or getattr(cache, "offloading", False)
            or len(layers) != len(self.core.layers)
            or not all(type(layer) is GrowingLayer and layer.is_initialized for layer in layers)
        ):
            return None
        length = layers[0].get_seq_length()
        if any(layer.get_seq_length() != length for layer in layers):
            return None
        grouped = self.rows or self._grouped(step.mask, layers[0].keys, layers[0].values)
        if self.groups > 1 and not grouped:
            return None
        rooms = [layer.room_for(hidden.shape[1], layer.keys) for layer in layers]
        return [keys for keys, _ in rooms], [values for _, values in rooms], length

    def _attention(self, attn, index: int, x: torch.Tensor, step: _Step, cache) -> torch.Tensor:
        """transformers' LlamaAttention.forward with the sdpa implementation, op for op."""
        input_shape = x.shape[:-1]
        shape = (*input_shape, -1, attn.head_dim)
        query, key, value = (p.view(shape).transpose(1, 2) for p in _projections(attn, x))
        query, key = _rotate(query, step.cos, step.sin), _rotate(key, step.cos, step.sin)
        key, value = cache.update(key, value, index)
        out = self._sdpa(attn, query, key, value, step)
        return _linear(attn.o_proj, out.reshape(*input_shape, -1).contiguous())

    def _sdpa(self, attn, query, key, value, step: _Step) -> torch.Tensor:
        """transformers' sdpa_attention_forward, its choices taken once a step. Where it would
        copy or regroup key/value heads (no grouped-head SDPA here), its own function runs.
        Where the model runs attention.py's row kernel, that runs."""
        if self.rows:
            out, _ = row_attention_forward(attn, query, key, value, step.mask, scaling=attn.scaling)
            return out
        groups = attn.num_key_value_groups
        if step.grouped is None:
            step.grouped = groups == 1 or self._grouped(step.mask, key, value)
        if not step.grouped:
            out, _ = self._attend(attn, query, key, value, step.mask, scaling=attn.scaling)
            return out
        causal = step.causal and getattr(attn, "is_causal", True)
        q_length = query.shape[2]
        if causal and key.shape[2] > q_length:  # transformers' cut for flash attention's sake
            key, value = key[:, :, :q_length, :], value[:, :, :q_length, :]
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=step.mask,
            dropout_p=0.0,
            scale=attn.scaling,
            is_causal=causal,
            enable_gqa=groups > 1,
        )
        return out.transpose(1, 2).contiguous()


def _is_silu(act_fn: nn.Module) -> bool:
    """nn.SiLU, or transformers' SiLUActivation (F.silu too)."""
    return type(act_fn) is nn.SiLU or type(act_fn).__name__ == "SiLUActivation"


def _streamed(linear: nn.Module):
    """The kernel entry point (csrc/layers.cpp's `Linear`) of a bias-free
    StreamedLinear, for `Layers` to call; None for any other linear."""
    if not isinstance(linear, StreamedLinear) or linear.bias is not None:
        return None
    return linear.native


def _like_the_first(layer: nn.Module, first: nn.Module) -> bool:
    """Whether a decoder layer is what layers.cpp runs, shaped as the first one: stacked
    q/k/v and gate/up (layouts.py), SiLU, causal attention, RMS norms."""
    attn, mlp, attn0, mlp0 = layer.self_attn, layer.mlp, first.self_attn, first.mlp
    return (
        type(attn.q_proj) is PackedQKV
        and type(mlp) is PackedMLP
        and attn.q_proj.sizes == attn0.q_proj.sizes
        and (attn.head_dim, attn.scaling) == (attn0.head_dim, attn0.scaling)
        and attn.num_key_value_groups == attn0.num_key_value_groups
        and getattr(attn, "is_causal", True)
        and mlp.hidden == mlp0.hidden
        and _is_silu(mlp.act_fn)
        and hasattr(layer.input_layernorm, "variance_epsilon")
        and hasattr(layer.post_attention_layernorm, "variance_epsilon")
    )


def native_layers(model: nn.Module):
    """csrc/layers.cpp's `Layers` holding `model`'s decoder layers, where every layer is
    what it runs (`_like_the_first`, every linear streamed and bias-free); None otherwise.
    Only a model in the streamed layout (a CPU's) asks for the kernel: elsewhere, on a GPU
    say, nothing is built for a CPU."""
    layers = model.model.layers
    if not any(isinstance(m, StreamedLinear) for m in model.modules()):
        return None
    if not all(_like_the_first(layer, layers[0]) for layer in layers):
        return None
    compiled = kernel()
    if compiled is None:
        return None
    attn0 = layers[0].self_attn
    native = compiled.Layers(
        attn0.q_proj.sizes,
        attn0.head_dim,
        layers[0].mlp.hidden,
        float(attn0.scaling),
        attn0.num_key_value_groups > 1,
        runs_row_attention(model),
    )
    for layer in layers:
        norms = layer.input_layernorm, layer.post_attention_layernorm
        mlp = layer.mlp
        modules = (layer.self_attn.q_proj.qkv, layer.self_attn.o_proj, mlp.gate_up, mlp.down_proj)
        linears = [_streamed(m) for m in modules]
        if any(linear is None for linear in linears):
            return None
        native.add(
            norms[0].weight.detach(),
            float(norms[0].variance_epsilon),
            norms[1].weight.detach(),
            float(norms[1].variance_epsilon),
            *linears,
        )
    return native


def has_sliding_layers(config) -> bool:
    """Whether some layer attends to a sliding window: the layer types say so where a config
    lists them (a config may set sliding_window and still use it in no layer); else a
    sliding_window setting does."""
    layer_types = getattr(config, "layer_types", None) or []
    if layer_types:
        return any("sliding" in str(t) for t in layer_types)
    return bool(getattr(config, "sliding_window", None))


def why_not_lean(model: nn.Module) -> str:
    """Why `LeanForward` cannot stand in for this model's forward ("" when it may)."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) != "llama":
        return "not a llama model"
    if getattr(config, "_attn_implementation", None) not in ("sdpa", ROW_ATTENTION):
        return "attention is neither transformers' sdpa implementation nor samdec's row kernel"
    if has_sliding_layers(config):
        return "sliding-window layers"
    if model.training:
        return "in training mode"
    return ""


# The check's shapes: a prefill, the chains of a plain step and a verify step, and a tree.
CHECK_PREFILL, CHECK_CHAINS, CHECK_TREE = 24, (1, 3), [-1, -1, 0]


def matches_transformers(lean: LeanForward, model: nn.Module) -> bool:
    """Whether `lean` gives bit-identical logits to `model`'s own forward on a prefill, chain
    steps and a tree step (random tokens, a cache each)."""
    transformers_forward = model_forward(model, None)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    vocab = model.config.vocab_size
    tokens = torch.randint(
        0,
        vocab,
        (1, CHECK_PREFILL + sum(CHECK_CHAINS) + 4),
        generator=torch.Generator().manual_seed(0),
    ).to(device)
    ours, theirs = new_cache(model), new_cache(model)
    steps, start = [(CHECK_PREFILL, {})], 0
    steps += [(n, {}) for n in CHECK_CHAINS]
    # A 4-node tree: two children under the start token, a grandchild under the first.
    steps += [(4, tree_inputs(CHECK_TREE, CHECK_PREFILL + sum(CHECK_CHAINS), dtype, device))]
    with torch.no_grad():
        for n, extra in steps:
            ids = tokens[:, start : start + n]
            start += n
            mine = lean(ids, ours, **extra)
            reference = transformers_forward(ids, theirs, **extra)
            if mine.shape != reference.shape or not torch.equal(mine, reference):
                return False
    return True


def model_forward(model: nn.Module, lean: LeanForward | None):
    """The forward pass the engine runs on `model`, called as forward(ids, cache, **kwargs) ->
    logits (1, tokens, vocab): `lean` when given (see lean_forward), else transformers'."""
    if lean is not None:
        return lean
    keyword = cache_keyword(model)

    def transformers_forward(ids: torch.Tensor, cache, **kwargs) -> torch.Tensor:
        return model(input_ids=ids, use_cache=True, **{keyword: cache}, **kwargs).logits

    return transformers_forward


def lean_forward(model: nn.Module) -> LeanForward | None:
    """A `LeanForward` for `model` if it computes bit-identical logits here, else None."""
    return choose_forward(model)[0]


def choose_forward(model: nn.Module) -> tuple[LeanForward | None, str]:
    """(the lean forward, or None for transformers' own; why, in words). Its layers run from
    C++ where `native_layers` takes them and that, too, is bit-identical to transformers'."""
    why = why_not_lean(model)
    if why:
        return None, f"transformers' forward: the lean one does not run here ({why})"
    try:
        native = native_layers(model)
    except Exception as exc:  # a layer this check did not foresee: Python runs it
        LOG.warning("samdec: the C++ layers refused this model (%r); Python runs them", exc)
        native = None
    failed = []
    for candidate in ([native] if native is not None else []) + [None]:
        lean = LeanForward(model, candidate)
        try:
            if matches_transformers(lean, model):
                return lean, f"{lean.kind}: every logit of its load-time check equals transformers'"
            failed.append(f"{lean.kind} differed from transformers in the load-time check")
        except Exception as exc:  # a variant of the architecture this forward does not know
            failed.append(f"{lean.kind} failed its load-time check ({exc!r})")
    for reason in failed:
        LOG.warning("samdec: %s", reason)
    return None, "transformers' forward: " + "; ".join(failed)
