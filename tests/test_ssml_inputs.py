"""-m ssml warns (once per file, naming it) on inputs unlike its training data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import read_dat, read_npz, write_dat
from ssml.method import input_problems

REAL = "real/uhsr_caltech_4144_helicopter.npz"
REDS = "reds301/spike/200_part1_key_id151.dat"


@pytest.fixture(scope="module")
def reds_window(shared_data):
    return read_dat(shared_data / REDS, start=130, stop=171)


def test_training_like_window_passes(reds_window):
    assert input_problems(reds_window) == {}


def test_dark_recording(shared_data):
    problems = input_problems(read_npz(shared_data / REAL)[80:121])
    assert set(problems) == {"rate"}
    assert "0.031" in problems["rate"] and "--scale auto" in problems["rate"] and "adapt" in problems["rate"]


def test_all_ones_and_random(reds_window):
    assert set(input_problems(torch.ones_like(reds_window))) == {"rate", "structure"}
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.integers(0, 2, tuple(reds_window.shape), dtype=np.uint8))
    problems = input_problems(noise)
    assert set(problems) == {"structure"} and "wrong -H/-W" in problems["structure"]


def test_wrong_flip(reds_window):
    upside_down = reds_window.flip(1)
    assert set(input_problems(upside_down)) == {"flip"}
    assert "--no-flip" in input_problems(upside_down)["flip"]


def test_cli_warns_once_naming_the_file(shared_data, tmp_path):
    dark = read_npz(shared_data / REAL)[:, 60:124, 60:124].contiguous()  # small: fast inference
    path = write_dat(tmp_path / "dark.dat", dark)
    result = CliRunner().invoke(main, ["recon", str(path), "-m", "ssml", "--at", "30", "--at", "90",
                                       "-o", str(tmp_path / "frames")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "unlike its training data" in line]
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("warning: ")
