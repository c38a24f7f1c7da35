"""tools/orientation_check.py: the measurement behind dropping the upside-down warning (issue 29)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import orientation_check  # noqa: E402


def test_row_correlation_and_error_rates():
    ramp = np.linspace(0, 1, 50)[:, None] * np.ones((50, 8))  # brighter at the bottom
    assert orientation_check.row_correlation(ramp) == pytest.approx(1.0)
    assert orientation_check.row_correlation(ramp[::-1]) == pytest.approx(-1.0)
    assert orientation_check.row_correlation(np.ones((5, 5))) == 0.0
    sources = {"sky above": [ramp[::-1]], "road below": [ramp]}  # both upright
    result = orientation_check.measure(sources, threshold=0.5)
    # the upright "road below" scene raises a false alarm; its flipped twin looks upright
    assert result["per_source"]["false_alarms_upright"] == 0.5 and result["per_source"]["misses_flipped"] == 0.5
    assert result["best_threshold_error"] == 0.5  # no threshold separates them


def test_measured_on_the_shared_scenes(shared_data):
    result = orientation_check.measure({k: v for k, v in orientation_check.scenes(shared_data).items()
                                        if not k.startswith("video")}, threshold=0.5)
    assert result["per_source"]["false_alarms_upright"] > 0  # the old warning fired on upright scenes
    assert result["best_threshold_error"] > 0.2
