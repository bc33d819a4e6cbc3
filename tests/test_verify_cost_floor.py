"""The floor scripts/verify_cost.py puts under an integer-layout step: its two kinds of
arithmetic alone at the machine's measured vector peaks (scripts/vector_peak.cpp), and the
sentence benchmarks/README.md says of it."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
from torch import nn

from tests.test_verify_cost_llamacpp import ARTIFACT, block, vc

PEAKS = {"vpdpbusd_per_s": 2e9, "fma_per_s": 1e9}


class Tiny(nn.Module):
    """Two linears and a llama-like config: 2 layers, 3 heads of width 4."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(64, 32, bias=False), nn.Linear(32, 128, bias=False)
        self.config = SimpleNamespace(num_hidden_layers=2, num_attention_heads=3, hidden_size=12)


def test_the_floor_counts_one_vpdpbusd_per_64_and_one_fma_per_16():
    k, threads = 8, 2
    linears = 64 * 32 + 32 * 128
    attention = 2 * 2 * 3 * 4 * (vc.CONTEXT + k)  # scores and values, every layer and head
    seconds = k * linears / 64 / (2e9 * threads) + k * attention / 16 / (1e9 * threads)
    assert vc.integer_floor_ms(Tiny(), k, PEAKS, threads) == pytest.approx(seconds * 1000)
    # ...and a floor that forgot attention, or the threads, would differ
    assert vc.integer_floor_ms(Tiny(), k, PEAKS, 1) == pytest.approx(2 * seconds * 1000)


def test_floors_are_left_out_without_peaks():
    assert vc.floors(Tiny(), {1: 5.0, 8: 9.0}, {}, 2) == {}
    got = vc.floors(Tiny(), {1: 5.0, 8: 9.0}, PEAKS, 2)
    assert got["floor_over_one"]["8"] == pytest.approx(got["arithmetic_floor_ms"]["8"] / 5.0)


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler here")
def test_the_vector_peaks_are_measured_here():
    peaks = vc.vector_peaks()
    if not peaks:  # a CPU without AVX-512 VNNI: the script says so and goes on
        pytest.skip("this CPU cannot run scripts/vector_peak.cpp")
    assert set(peaks) == {"vpdpbusd_per_s", "fma_per_s"}
    assert all(1e8 < v < 1e11 for v in peaks.values())


def test_the_readme_says_the_floor_only_when_the_artifact_has_it():
    integer = next(r for r in ARTIFACT["rows"] if r["layout"] == "integer")
    with_floor = {
        **integer,
        "arithmetic_floor_ms": {"4": 1.5, "8": 3.0},
        "floor_over_one": {"4": 0.27, "8": 0.55},
    }
    artifact = {
        **ARTIFACT,
        "vector_peaks_per_core": {"vpdpbusd_per_s": 3.65e9, "fma_per_s": 3.66e9},
    }
    said = block.integer_floor(artifact, with_floor)
    assert "8 tokens 3.0 ms (0.55x the measured 1-token step)" in said
    assert "3.65 G vpdpbusd/s" in said
    assert block.integer_floor({**artifact, "vector_peaks_per_core": {}}, with_floor) == ""
    bare = {k: v for k, v in with_floor.items() if k != "floor_over_one"}
    assert block.integer_floor(artifact, bare) == ""


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler here")
def test_the_cores_round_trip_is_measured_around_the_work():
    result, trip = vc.with_round_trip(lambda: "done")
    assert result == "done" and set(trip) == {"before", "after"}
    assert all(1 < ns < 100_000 for ns in trip.values())  # a cache line's trip, not a sleep


def test_the_readme_says_where_the_cores_were_only_when_measured():
    shared = {"core_round_trip_ns": {"before": 70.0, "after": 80.0}}
    apart = {"core_round_trip_ns": {"before": 340.0, "after": 360.0}}
    moved = {"core_round_trip_ns": {"before": 70.0, "after": 340.0}}
    assert "70 ns before the curves and 80 ns after the curves" in block.round_trip(shared)
    assert "shared one cache" in block.round_trip(shared)
    assert "were on different chiplets" in block.round_trip(apart)
    assert "moved between" in block.round_trip(moved)
    assert block.round_trip({}) == "" == block.round_trip({"core_round_trip_ns": {}})
