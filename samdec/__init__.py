"""samdec: lossless speculative decoding with suffix automata (SAM-Decoding).

    from samdec import load_model, engine_for
    engine = engine_for(load_model())                    # the bundled SmolLM2-135M-Instruct
    trace = engine.generate(engine.encode("Hi!"), method="sam", max_new_tokens=64)
    print(trace.text, trace.summary.mat)

Importing `samdec` (or `samdec.trace`) does not import torch; the engine loads it on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Engine": "samdec.engine",
    "engine_for": "samdec.stack",
    "DecodeConfig": "samdec.config",
    "load_model": "samdec.runtime.loading",
    "StaticSuffixAutomaton": "samdec.static_automaton",
    "DynamicSuffixAutomaton": "samdec.automaton",
    "Trace": "samdec.trace",
    "StepEvent": "samdec.trace",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'samdec' has no attribute {name!r}")


__all__ = list(_LAZY)
