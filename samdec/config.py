"""Decoding settings: plain data, validated, shared by the engine, the replay and the app."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

METHODS = ("ar", "sam", "sam-dynamic", "recycling", "sam+recycling")
POLICIES = ("cost", "fixed")


@dataclass
class DecodeConfig:
    method: str = "sam"
    max_new_tokens: int = 256
    l_bias: int = 5
    l_threshold: int = 5
    draft_policy: str = "cost"  # "cost": length from the measured verify cost; "fixed": draft_len
    draft_len: int = 40  # the fixed length, and the cost policy's upper bound
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop_strings: list[str] = field(default_factory=list)
    endpos: str = "first"  # which earlier occurrence a retrieval draft continues
    use_static: bool = True
    recycling_k: int = 8
    carry_recycling: bool = False  # keep Token Recycling's table across requests

    def validate(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(self.method in METHODS, f"unknown method {self.method!r}; choose from {METHODS}")
        need(self.draft_policy in POLICIES, f"unknown draft policy {self.draft_policy!r}")
        need(self.max_new_tokens >= 1, "max_new_tokens must be at least 1")
        need(self.l_bias >= 0, "l_bias must be >= 0")
        need(self.l_threshold >= 0, "l_threshold must be >= 0")
        need(1 <= self.draft_len <= 128, "draft_len must be between 1 and 128")
        need(self.temperature >= 0, "temperature must be >= 0")
        need(0 < self.top_p <= 1, "top_p must be in (0, 1]")
        need(self.endpos in ("first", "last"), "endpos must be 'first' or 'last'")
        need(1 <= self.recycling_k <= 32, "recycling_k must be between 1 and 32")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
