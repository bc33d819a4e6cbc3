"""samdec.runtime.hugepages: weights copied onto 2 MB pages, the same values, freed with their
model; off by SAMDEC_HUGE_PAGES=0; a layout's linears hold their weights there."""

from __future__ import annotations

import gc
import logging

import pytest
import torch

from samdec.runtime import hugepages
from samdec.runtime.native import kernel
from tests.test_streaming import coded_linear

MB = 1 << 20


def _in_arena(t: torch.Tensor) -> bool:
    spans = [(hugepages._address(a.ref()) + a.first, a.used) for a in hugepages._arenas if a.ref()]
    return any(start <= t.data_ptr() < start + used for start, used in spans)


def test_placed_weights_keep_their_values_and_live_in_an_arena():
    weights = [torch.randn(300, 700, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    weights.append(torch.randint(0, 255, (5000, 333), dtype=torch.uint8))
    weights.append(torch.randn(77, 3).half())
    placed = [hugepages.place(w) for w in weights]
    for w, p in zip(weights, placed, strict=True):
        assert p.dtype == w.dtype and p.shape == w.shape and torch.equal(p, w)
        assert p.data_ptr() != w.data_ptr() and _in_arena(p)
        assert p.data_ptr() % hugepages.ALIGN == 0


def test_weights_larger_than_an_arena_get_one_of_their_own():
    big = torch.ones(hugepages.ARENA + 3 * MB, dtype=torch.uint8)
    placed = hugepages.place(big)
    assert torch.equal(placed, big) and _in_arena(placed)


@pytest.mark.skipif(bool(hugepages.why_not()), reason=hugepages.why_not() or "")
def test_the_kernel_puts_placed_weights_on_huge_pages():
    placed = hugepages.place(torch.ones(24 * MB, dtype=torch.uint8))
    state = hugepages.state()
    assert state["huge_bytes"] >= 16 * MB, state
    assert state["huge_bytes"] <= state["placed_bytes"]
    del placed


def test_arenas_are_freed_with_their_weights():
    """Other tests' models hold arenas of their own in this process: only the arenas that hold
    these weights are looked at."""
    placed = [hugepages.place(torch.ones(20 * MB, dtype=torch.uint8)) for _ in range(4)]
    mine = [
        a.ref
        for a in hugepages._arenas
        if a.ref() is not None
        and any(0 <= p.data_ptr() - hugepages._address(a.ref()) < len(a.ref()) for p in placed)
    ]
    assert len(mine) >= 2  # 20 MB each: more than one arena
    del placed
    gc.collect()
    alive = [ref for ref in mine if ref() is not None]
    # Only the arena being filled is held once its weights are gone.
    assert len(alive) <= 1
    assert not alive or alive[0]() is hugepages._arenas[-1].mapping


def test_off_leaves_weights_where_torch_put_them(monkeypatch):
    """Negative control for the placement test: with SAMDEC_HUGE_PAGES=0, nothing moves, and
    the state says why there are no huge pages."""
    monkeypatch.setenv(hugepages.OFF, "0")
    w = torch.randn(100, 100)
    assert hugepages.place(w) is w
    assert hugepages.why_not() == f"{hugepages.OFF}=0"


@pytest.mark.skipif(kernel() is None, reason="the streamed layout needs the native kernels")
def test_a_streamed_linear_computes_the_same_bits_from_huge_pages(monkeypatch):
    from samdec.runtime.layouts import StreamedLinear

    linear = coded_linear(48, 96, "q4_1", seed=9)
    x = torch.randn(5, 96, generator=torch.Generator().manual_seed(1))
    placed = StreamedLinear(linear)
    monkeypatch.setenv(hugepages.OFF, "0")
    plain = StreamedLinear(linear)
    assert _in_arena(placed.codes) and _in_arena(placed.scales)
    assert not _in_arena(plain.codes)
    with torch.no_grad():
        assert torch.equal(placed(x), plain(x))


def test_weights_left_on_small_pages_are_said_once(monkeypatch, caplog):
    """A fallback is never silent: where the kernel gives a fresh arena no huge pages, one
    warning says so and why, however many arenas follow."""
    monkeypatch.setattr(hugepages, "_huge_bytes", lambda spans: 0)
    monkeypatch.setattr(hugepages, "_said", [])
    monkeypatch.setattr(hugepages, "_arenas", [])
    with caplog.at_level(logging.WARNING, logger="samdec.runtime"):
        hugepages.place(torch.ones(3 * MB, dtype=torch.uint8))
        hugepages.place(torch.ones(hugepages.ARENA, dtype=torch.uint8))  # a second arena
    said = [r.getMessage() for r in caplog.records if "4 KB pages" in r.getMessage()]
    assert len(said) == 1, said
    reason = hugepages.why_not() or "the kernel gave this mapping no huge pages"
    assert reason in said[0]
