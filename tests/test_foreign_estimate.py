"""tools/foreign_estimate.py: each foreign case is scored with the weights of the run that left it out."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import foreign_estimate  # noqa: E402
from protocol import FOREIGN, VALIDATION  # noqa: E402

from ssml.weights_io import LITE_WEIGHTS  # noqa: E402


def test_left_out_weights_score_only_their_case(shared_data, tmp_path):
    state = torch.load(LITE_WEIGHTS, map_location="cpu", weights_only=True)
    key = next(k for k in state if k.endswith("bias"))
    state[key] = state[key] + 0.05  # a different network: every output moves
    other = tmp_path / "other.pt"
    torch.save(state, other)
    first, second = (name for name, *_ in FOREIGN)
    plain = foreign_estimate.estimate("ssml-lite", {"weights": str(LITE_WEIGHTS)}, {}, shared_data)
    loo = foreign_estimate.estimate("ssml-lite", {"weights": str(LITE_WEIGHTS)}, {first: str(other)}, shared_data)
    by = lambda row: {c["case"]: c["psnr"] for c in row["foreign"]}
    assert by(loo)[first] != pytest.approx(by(plain)[first], abs=1e-3)
    assert by(loo)[second] == pytest.approx(by(plain)[second], abs=1e-9)
    assert loo["validation_mean"] == pytest.approx(plain["validation_mean"], abs=1e-9)
    assert len(loo["validation"]) == len(VALIDATION)
    assert loo["gap"] == pytest.approx(loo["validation_mean"] - (by(loo)[first] + by(loo)[second]) / 2)
    text = foreign_estimate.table({"a run": loo})
    assert f"**{loo['foreign_mean']:.2f}**" in text and f"{loo['gap']:.2f} |" in text


def test_an_unknown_case_is_refused(shared_data):
    with pytest.raises(SystemExit, match="expected one of"):
        foreign_estimate.estimate("ssml-lite", {"weights": None}, {"200_part1 @150": "x.pt"}, shared_data)
