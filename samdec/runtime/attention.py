"""Attention computed one query row at a time (csrc/attention.cpp), as a transformers
attention implementation.

Why: torch's CPU attention (SDPA's flash kernel) is built for many query rows; a decoding or
verify step has 1 to ~16. In a streamed step of the bundled model most of SDPA's time went to
setting up around very little arithmetic, a noticeable share of the step. The row kernel does
only a row's arithmetic: on the bundled model's shapes it was about three times as fast as SDPA
for one or two rows, still ahead at four, level with it from about eight rows, and mixed on
long prefills. Taking a group's heads (those reading the same keys and values) and a step's
tokens a few rows at a call, sharing the loads of keys and values, then made it faster at
every step size (attention.cpp says why).

Exactness: a row's output depends on its query, the keys and values it may see and its mask
row only, in one fixed order, so plain decoding and a verify step give it the same bits. It is
not SDPA's order, so it differs from SDPA in the last bits: a model runs it everywhere or
nowhere. `use_row_attention` registers it with transformers and sets it as the model's
attention, so the model's own forward runs it too, and forward.py's bit-check compares like
with like.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from .native import kernel

NAME = "samdec_rows"


def row_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """transformers' sdpa_attention_forward, its choices made the same way (the causal flag,
    the cut of keys a causal prefill cannot see), with the row kernel in SDPA's place; grouped
    key/value heads are read in place. -> ((batch, queries, heads, width), None)."""
    if dropout or kwargs.get("softcap") is not None or kwargs.get("position_bias") is not None:
        raise ValueError("row attention has no dropout, softcap or position bias")
    q_length = query.shape[2]
    is_causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    causal = q_length > 1 and attention_mask is None and is_causal
    if causal and key.shape[2] > q_length:  # as transformers cuts it for SDPA's causal flag
        key, value = key[:, :, :q_length], value[:, :, :q_length]
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return attend(query, key, value, attention_mask, causal, scale), None


def attend(query, key, value, mask, causal: bool, scale: float) -> torch.Tensor:
    """The kernel itself: query (B, H, Q, D), key and value (B, KVH, KV, D), mask None or
    (1|B, 1|H, Q, KV) bool or float; causal as SDPA's is_causal. -> (B, Q, H, D)."""
    return kernel().attend(query, key, value, mask, causal, float(scale))


@functools.cache  # registered once a process
def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, row_attention_forward)
    # The masks SDPA takes (boolean, or none where the causal flag does), which the kernel reads.
    AttentionMaskInterface.register(NAME, sdpa_mask)


def runs_row_attention(model: nn.Module) -> bool:
    """Whether `model`'s attention is this kernel (`use_row_attention` set it)."""
    return getattr(getattr(model, "config", None), "_attn_implementation", None) == NAME


def row_attention_available(model: nn.Module) -> bool:
    """Whether `model` can run it: float32 on a CPU, the kernel built, head widths it takes
    (a multiple of the kernel's LANES, at most its MAX_HEAD_WIDTH)."""
    weight = next(model.parameters(), torch.empty(0))
    config = getattr(model, "config", None)
    width = getattr(config, "head_dim", None) or (
        getattr(config, "hidden_size", 0) // max(getattr(config, "num_attention_heads", 1), 1)
    )
    if (weight.dtype, weight.device.type) != (torch.float32, "cpu"):
        return False
    if getattr(config, "_attn_implementation", None) not in ("sdpa", NAME):
        return False
    native = kernel()  # its units are read only here, where it is needed
    return native is not None and width % native.LANES == 0 and width <= native.MAX_HEAD_WIDTH


def use_row_attention(model: nn.Module) -> bool:
    """Make the row kernel `model`'s attention where it can run it (True), else leave it."""
    if not row_attention_available(model):
        return False
    _register()
    model.set_attn_implementation(NAME)
    return model.config._attn_implementation == NAME
