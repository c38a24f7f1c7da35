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


def test_dark_recording_is_within_the_training_data(shared_data):
    """The real recording (mean firing rate 0.031) is as dark as the darkest training scenes."""
    assert input_problems(read_npz(shared_data / REAL)[80:121]) == {}


def test_too_dark(reds_window):
    dark = reds_window * (torch.rand(reds_window.shape, generator=torch.Generator().manual_seed(0)) < 0.04)
    problems = input_problems(dark)
    assert "rate" in problems and "--scale auto" in problems["rate"] and "adapt" in problems["rate"]


@pytest.mark.parametrize("rate", [0.02, 0.03, 0.1])
def test_dark_scenes_have_structure_and_noise_of_their_rate_does_not(rate):
    """Counting noise of a dark window must not read as a scene without structure: a photograph
    simulated at the rate passes, independent spikes at the same rate do not."""
    from spikekit.simulate import Simulator
    from ssml.data import load_images

    image = load_images(["camera"], 160)[0, 0]
    intensity = (image * rate / 0.6 / image.mean()).clamp(0, 1).expand(41, 160, 160)
    spikes = Simulator(160, 160, gain=0.6, seed=0).step(intensity.contiguous())
    assert input_problems(spikes) == {}
    noise = (torch.rand(41, 160, 160, generator=torch.Generator().manual_seed(1)) < rate).to(torch.uint8)
    assert set(input_problems(noise)) == {"structure"}


def test_all_ones_and_random(reds_window):
    assert set(input_problems(torch.ones_like(reds_window))) == {"rate", "structure"}
    assert "--scale auto" in input_problems(torch.ones_like(reds_window))["rate"]
    binned = input_problems(torch.ones_like(reds_window), k=3)["rate"]  # the bin made it too bright
    assert "per input frame" in binned and "--param bin=3" in binned and "--scale auto" not in binned
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.integers(0, 2, tuple(reds_window.shape), dtype=np.uint8))
    problems = input_problems(noise)
    assert set(problems) == {"structure"} and "wrong -H/-W" in problems["structure"]


def test_no_orientation_guess_on_upright_scenes_brighter_at_the_bottom(reds_window):
    """Issue 29: a brightness profile cannot tell up from down (an upright street or car scene is
    often brighter at the bottom; tools/orientation_check.py measures it), so no warning about
    the row order is given either way, on an upright scene that is brighter at the bottom too."""
    from spikekit.simulate import Simulator

    ramp = torch.linspace(0.05, 0.6, 120)[:, None].expand(120, 160)  # dark sky above, bright road below
    texture = torch.from_numpy(np.random.default_rng(2).random((120, 160), dtype=np.float32))
    scene = (ramp * (0.7 + 0.3 * texture)).expand(41, 120, 160).contiguous()
    spikes = Simulator(120, 160, gain=0.6, seed=0).step(scene)
    assert input_problems(spikes) == {}
    assert input_problems(reds_window.flip(1)) == {}


def test_cli_warns_once_naming_the_file(shared_data, tmp_path):
    rng = np.random.default_rng(0)  # small: fast inference; independent spikes: no scene structure
    path = write_dat(tmp_path / "noise.dat", torch.from_numpy((rng.random((200, 64, 64)) < 0.1).astype(np.uint8)))
    result = CliRunner().invoke(main, ["recon", str(path), "-m", "ssml", "--at", "30", "--at", "90",
                                       "-o", str(tmp_path / "frames")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "unlike its training data" in line]
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("warning: ")
