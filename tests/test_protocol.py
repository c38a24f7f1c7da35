"""tools/protocol.py: the evaluation protocol's test grid and dark validation are fixed and held out."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import protocol  # noqa: E402

from ssml.config import HELD_OUT_FILES, TrainConfig  # noqa: E402


def test_every_validation_file_is_held_out_from_training():
    names = {Path(p).name for _, dat, gt, _ in protocol.VALIDATION for p in (dat, gt)}
    assert names == set(HELD_OUT_FILES)
    for _, dat, gt, index in protocol.VALIDATION:
        with pytest.raises(ValueError, match="no validation or test stream"):
            TrainConfig(pairs=[f"a/{dat}:b.png:{index}"], objective="supervised").validate()


def test_grid_is_fixed_held_out_and_at_its_light_levels(shared_data):
    cases = protocol.test_grid(shared_data, cells=9)  # one speed: every light and noise level
    assert len(cases) == 9 * protocol.SCENES_PER_CELL
    assert {c.cell["light"] for c in cases} == set(protocol.LIGHTS)
    assert not set(protocol.TEST_IMAGES) & set(TrainConfig().images)
    for case in cases:
        rate = protocol.LIGHTS[case.cell["light"]]
        assert case.spikes.shape == (protocol.TEST_FRAMES, protocol.TEST_SIZE, protocol.TEST_SIZE)
        assert case.spikes.float().mean().item() == pytest.approx(rate, rel=0.1)
        assert float(case.gt.mean()) * 0.6 == pytest.approx(rate, rel=0.15)  # centre frame, clipped
    again = protocol.test_grid(shared_data, cells=1)
    assert len(again) == protocol.SCENES_PER_CELL
    assert all(torch.equal(a.spikes, b.spikes) for a, b in zip(cases, again))
    ends = protocol.at_stream_start(cases)
    assert [c.index for c in ends] == [i % 20 for i in range(len(cases))]
    for case, end in zip(cases, ends):  # the same scene and GT, the stream starting `index` frames before it
        assert end.gt is case.gt and end.cell == {**case.cell, "set": "test-start"}
        assert torch.equal(end.spikes[end.index], case.spikes[case.index])
        assert end.spikes.shape[0] == case.spikes.shape[0] - (case.index - end.index)


def test_dark_validation_is_fixed_and_dark(shared_data):
    cases = protocol.dark_validation(shared_data)
    assert len(cases) == protocol.DARK_SCENES and all(c.cell["set"] == "dark-validation" for c in cases)
    for case in cases:
        assert case.spikes.shape == (protocol.TEST_FRAMES, protocol.TEST_SIZE, protocol.TEST_SIZE)
        assert case.spikes.float().mean().item() == pytest.approx(protocol.DARK_RATE, rel=0.1)
    again = protocol.dark_validation(shared_data)
    assert all(torch.equal(a.spikes, b.spikes) and np.array_equal(a.gt, b.gt) for a, b in zip(cases, again))
