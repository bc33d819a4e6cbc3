"""scripts/verify_scaling.py's summary: windows grouped by where the cores were, medians per
group, and the step split perfectly set against #34's bound."""

from __future__ import annotations

import pytest

from tests.conftest import load_script

vs = load_script("verify_scaling")


def _window(ns, *medians):
    """A window: the round trip, then the script's MEASURES in their order."""
    return {"round_trip_ns": ns, **dict(zip(vs.MEASURES, medians, strict=True))}


def test_windows_are_grouped_by_the_cores_round_trip():
    windows = [
        _window(55.0, 4.5, 7.9, 5.6, 12.7),
        _window(60.0, 4.7, 8.1, 5.8, 12.9),
        _window(57.0, 4.6, 8.0, 5.7, 12.8),
        _window(330.0, 4.4, 10.0, 5.6, 12.7),
        _window(None, 9.9, 9.9, 9.9, 9.9),
    ]
    got = vs.summary(windows, threads=2)
    assert set(got) == {"shared cache", "apart", "unknown"}
    shared = got["shared cache"]
    assert shared["windows"] == 3
    assert shared["median_ms"] == {
        "one_all": 4.6,
        "k_all": 8.0,
        "one_single": 5.7,
        "k_single": 12.8,
    }
    assert shared["k_over_one"] == pytest.approx(8.0 / 4.6)
    assert shared["perfect_split_ms"] == pytest.approx(6.4)
    assert shared["bound_ms"] == pytest.approx(1.5 * 4.6)
    assert shared["perfect_split_over_one"] == pytest.approx(6.4 / 4.6)
    assert got["apart"]["windows"] == 1 and got["apart"]["k_over_one"] == pytest.approx(10 / 4.4)


def test_the_threshold_is_the_readme_sentences():
    """The same line as benchmarks/README.md's sentence about the cores (readme_verify_cost)."""
    below, above = vs.SHARED_CACHE_NS - 1, vs.SHARED_CACHE_NS
    assert vs.state_of(below) == "shared cache" and vs.state_of(above) == "apart"
    assert vs.state_of(None) == "unknown"
