"""The demo (the README's first command) runs end to end without ../shared and writes its outputs."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.demo import HEIGHT, STEPS, VIDEO_FRAMES, WIDTH, render_scene


def test_scene_moves_along_its_trajectory():
    frames = render_scene(frames=3)
    assert frames.shape == (3, HEIGHT, WIDTH) and frames.dtype.is_floating_point
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert not np.allclose(frames[0].numpy(), frames[2].numpy())


def test_demo_end_to_end(tmp_path):
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    meta = json.loads((out / "scene.dat.json").read_text())
    assert (meta["height"], meta["width"]) == (HEIGHT, WIDTH)
    assert (out / "scene.dat").stat().st_size == VIDEO_FRAMES * STEPS * HEIGHT * WIDTH // 8
    sheet = iio.imread(out / "compare.png")
    assert sheet.shape[0] == HEIGHT + 18 and sheet.shape[1] > 4 * WIDTH
    assert (out / "compare.mp4").stat().st_size > 1000
    rows = {line.split()[0] + (" " + line.split()[1] if line.startswith("TFP") else ""): line.split()
            for line in result.output.splitlines() if line.startswith(("TFP", "TFI", "TFSTP", "SSML"))}
    tfp41 = float(rows["TFP w=41"][2])
    assert tfp41 > 28.0  # noise on, slow motion: a 41-frame window is a good reconstruction
    assert float(rows["TFP w=7"][2]) < tfp41
