"""The shipped defaults are the ones chosen on training prompts (scripts/tune_defaults.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samdec.config import DecodeConfig

ARTIFACT = Path(__file__).resolve().parents[1] / "benchmarks" / "defaults_tuning.json"


@pytest.mark.skipif(not ARTIFACT.is_file(), reason="no committed tuning run yet")
def test_the_config_defaults_are_the_setting_chosen_on_training_prompts():
    artifact = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    chosen = artifact["chosen"]
    defaults = DecodeConfig()
    assert {k: getattr(defaults, k) for k in chosen} == chosen
    assert not any(p.startswith("spec_bench") or p.isdigit() for p in artifact["prompts"])


@pytest.mark.skipif(not ARTIFACT.is_file(), reason="no committed tuning run yet")
def test_the_chosen_setting_is_the_best_predicted_for_sam():
    artifact = json.loads(ARTIFACT.read_text(encoding="utf-8"))
    best = max(artifact["grid_rows"], key=lambda r: r["speedup"])
    assert {k: best[k] for k in artifact["chosen"]} == artifact["chosen"]
