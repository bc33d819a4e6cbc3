"""Weight layouts that make a CPU verify pass cheaper, without changing what it computes.

`nn.Linear` stores W as (out, in) and calls `F.linear(x, W)`. For the few rows a decoding or
verification step feeds (1 to ~16), the CPU kernel behind that call is slow and grows fast with
the rows: the bundled model's output layer took 16.8 ms for 1 row and 39.0 for 2 with
`F.linear` (2-core AMD EPYC, torch 2.13, 2026-11-28, weights warm in cache). Two layouts:

- `transposed`: W stored once as a contiguous (in, out) matrix, `x @ Wt`: 9.4 / 17.6 ms, but
  worse than stock from 4 rows (63 ms).
- `packed`: oneDNN's linear with W packed once for 16 rows: 10.3 / 10.4 ms, 13.9 at 8 rows.
  The default for float32 on a CPU (samdec.models.default_layout).

Same weights, same fp32 arithmetic in another summation order: outputs agree to rounding, so an
argmax tie can flip in rare cases (greedy `generate` gave the same tokens in the stock and packed
layouts on 6 of 6 Spec-Bench questions here). The engine's plain loop and its speculative loop
run the same layout, so speculation stays exact against plain decoding on the loaded model
(tests/test_lossless.py checks it against transformers' own `generate` on that model).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import LAYOUTS


class TransposedLinear(nn.Module):
    """`nn.Linear` with the weight stored as a contiguous (in, out) matrix: y = x @ Wt + b."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            self.weight_t = nn.Parameter(linear.weight.detach().t().contiguous(), False)
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        """The usual (out, in) view, for code that reads shapes (e.g. the vocabulary size)."""
        return self.weight_t.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight_t
        return y + self.bias if self.bias is not None else y


# oneDNN packs a weight for a batch size; 16 rows costs least across 1..32 rows here (the
# bundled model's output layer, ms for 1/2/4/8/16 rows: packed for 1: 9.7/19.5/19.9/20.2/22.3;
# for 8: 11.2/11.4/12.3/14.1/16.3; for 16: 10.3/10.4/11.9/13.9/18.1).
PACK_ROWS = 16


class PackedLinear(nn.Module):
    """`nn.Linear` through oneDNN with the weight packed once for small batches.

    Measured here, a row's result did not depend on how many rows shared the call (F.linear's
    and `x @ Wt`'s did), and the cost grew slowly with rows: the output layer 10.3 ms for 1
    row, 13.9 for 8. fp32 throughout.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), PACK_ROWS)
        self.register_buffer("packed", packed, persistent=False)
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        """Only the shape of (out, in) is kept: the packed buffer is what computes."""
        return torch.empty(self.out_features, self.in_features, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


SWAP = {"transposed": TransposedLinear, "packed": PackedLinear}


def swap_linears(model: nn.Module, kind: type[nn.Module] = TransposedLinear) -> int:
    """Replace every `nn.Linear` of `model` by `kind(linear)`, in place; how many."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear
    ]
    for parent, name, child in swaps:
        setattr(parent, name, kind(child))
    return len(swaps)


def packed_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def apply_layout(model: nn.Module, layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    if layout in SWAP:
        swap_linears(model, SWAP[layout])
