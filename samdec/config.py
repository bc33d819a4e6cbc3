"""Decoding settings: one dataclass, one validation path, shared by the engine, the CLI and the app.

Every field carries its bounds and the name a person knows it by, so `DecodeConfig.from_values`
can take loosely typed input (a web form, JSON, command-line strings) by field name and answer
bad input with one sentence that says what to type instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .methods import METHODS, method

POLICIES = ("cost", "fixed")
# How the page and the CLI name each length policy.
POLICY_LABELS = {"cost": "cost-aware", "fixed": "fixed length"}
ENDPOS = ("first", "last")
SEED_MAX = 2**62


@dataclass(frozen=True)
class Bound:
    """What a field accepts: its kind, its range or its choices, and its name for people."""

    label: str
    kind: type = int
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    above_lo: bool = False  # lo itself is excluded (top_p > 0)
    optional: bool = False  # None is allowed (seed)


def _setting(default: Any, **bound: Any) -> Any:
    return field(default=default, metadata={"bound": Bound(**bound)})


@dataclass
class DecodeConfig:
    method: str = _setting("sam", label="Method", kind=str, choices=METHODS)
    max_new_tokens: int = _setting(256, label="Max new tokens", lo=1)
    # Chosen on training prompts by scripts/tune_defaults.py (benchmarks/defaults_tuning.json;
    # tests/test_defaults.py keeps them equal); the paper's are (5, 5).
    l_bias: int = _setting(0, label="l_bias", lo=0, hi=1000)
    l_threshold: int = _setting(1, label="l_threshold", lo=0, hi=1000)
    # "cost" (cost-aware): draft length from the measured verify cost; "fixed": draft_len
    draft_policy: str = _setting("cost", label="Length policy", kind=str, choices=POLICIES)
    # the draft limit: the most tokens a step may verify, under either length policy
    draft_len: int = _setting(40, label="Draft length", lo=1, hi=128)
    temperature: float = _setting(0.0, label="Temperature", kind=float, lo=0, hi=5)  # 0 = greedy
    top_p: float = _setting(1.0, label="Top-p", kind=float, lo=0, hi=1, above_lo=True)
    seed: int | None = _setting(None, label="Seed", lo=0, hi=SEED_MAX, optional=True)
    stop_strings: list[str] = field(default_factory=list)
    # which earlier occurrence a retrieval draft continues
    endpos: str = _setting("first", label="endpos", kind=str, choices=ENDPOS)
    use_static: bool = _setting(True, label="Static corpus automaton", kind=bool)
    recycling_k: int = _setting(8, label="recycling_k", lo=1, hi=32)
    # keep Token Recycling's table across requests
    carry_recycling: bool = _setting(False, label="Carry Token Recycling's table", kind=bool)
    # Prompt lookup (method pld), transformers' max_matching_ngram_size and
    # prompt_lookup_num_tokens: the longest n-gram looked up, the most tokens drafted.
    pld_ngram: int = _setting(2, label="Prompt lookup n-gram size", lo=1, hi=32)
    pld_tokens: int = _setting(10, label="Prompt lookup draft tokens", lo=1, hi=128)

    @classmethod
    def from_values(
        cls, values: Mapping[str, Any], limits: Mapping[str, float] | None = None
    ) -> DecodeConfig:
        """A checked config from values by field name (strings and floats are converted).

        `limits` lowers a field's upper bound (a public server caps max_new_tokens). Raises
        ValueError with a sentence a person can act on.
        """
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"Unknown setting(s): {', '.join(unknown)}.")
        converted = {}
        for name, raw in values.items():
            bound = known[name].metadata.get("bound")
            if bound is None:  # stop_strings
                converted[name] = [str(s) for s in raw or []]
                continue
            if limits and name in limits:
                bound = Bound(**{**asdict(bound), "hi": limits[name]})
            converted[name] = _convert(raw, bound)
        config = cls(**converted)
        config.validate(limits)
        return config

    def validate(self, limits: Mapping[str, float] | None = None) -> None:
        """ValueError with a sentence a person can act on, for the first bad field."""
        for f in fields(self):
            bound = f.metadata.get("bound")
            if bound is not None:
                if limits and f.name in limits:
                    bound = Bound(**{**asdict(bound), "hi": limits[f.name]})
                _check(getattr(self, f.name), bound)
        if not all(isinstance(s, str) for s in self.stop_strings):
            raise ValueError("Stop strings must be text.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label(name: str) -> str:
    """The name a person knows a setting by (the app's control shows it; messages use it)."""
    bound = DecodeConfig.__dataclass_fields__[name].metadata.get("bound")
    return bound.label if bound is not None else name


def _range_words(bound: Bound) -> str:
    if bound.lo is not None and bound.hi is not None:
        return f"from {_num(bound.lo)} to {_num(bound.hi)}"
    return f"of at least {_num(bound.lo)}"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _convert(raw: Any, bound: Bound) -> Any:
    """Loosely typed input -> the field's type (ranges are checked by _check)."""
    if bound.optional and (raw is None or (isinstance(raw, str) and not raw.strip())):
        return None
    if bound.kind is bool:
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false", "1", "0"):
            return raw.strip().lower() in ("true", "1")
        return raw if isinstance(raw, bool) else _fail_kind(raw, bound)
    if bound.kind is str:
        return raw.strip() if isinstance(raw, str) else _fail_kind(raw, bound)
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return _fail_kind(raw, bound)
    if bound.kind is int:
        if not number.is_integer():
            return _fail_kind(raw, bound)
        return int(number)
    return number


def _fail_kind(raw: Any, bound: Bound) -> Any:
    if bound.kind is int:
        raise ValueError(
            f"{bound.label} must be a whole number {_range_words(bound)}, got {raw!r}."
        )
    if bound.kind is float:
        raise ValueError(f"{bound.label} must be a number, got {raw!r}.")
    if bound.kind is bool:
        raise ValueError(f"{bound.label} must be true or false, got {raw!r}.")
    raise ValueError(f"{bound.label} must be text, got {raw!r}.")


def _check(value: Any, bound: Bound) -> None:
    if value is None and bound.optional:
        return
    if bound.choices:
        if bound.label == "Method":
            method(value)  # its message lists the methods
        elif value not in bound.choices:
            choices = " or ".join(repr(c) for c in bound.choices)
            raise ValueError(f"{bound.label} must be {choices}, got {value!r}.")
        return
    if bound.kind is bool:
        if not isinstance(value, bool):
            _fail_kind(value, bound)
        return
    if bound.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        _fail_kind(value, bound)
    if bound.kind is float and not isinstance(value, int | float):
        _fail_kind(value, bound)
    too_low = bound.lo is not None and (value <= bound.lo if bound.above_lo else value < bound.lo)
    too_high = bound.hi is not None and value > bound.hi
    if too_low or too_high or value != value:  # NaN fails too
        if bound.kind is int:
            words = f"a whole number {_range_words(bound)}"
        elif bound.above_lo:
            words = f"above {_num(bound.lo)} and at most {_num(bound.hi)}"
        else:
            words = f"between {_num(bound.lo)} and {_num(bound.hi)}"
        raise ValueError(f"{bound.label} must be {words}, got {value!r}.")
