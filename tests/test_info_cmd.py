"""`spikekit info`: writing the sidecar from the options a user settled on (issue 29)."""
from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import write_dat


def test_info_write_sidecar_records_the_options_and_never_overwrites_unasked(tmp_path):
    """Issue 29: the options settled with `info` are written once into the sidecar; an existing
    sidecar is replaced only with --overwrite (its other keys kept)."""
    path = write_dat(tmp_path / "rec.dat", torch.zeros(4, 8, 16, dtype=torch.uint8), sidecar=False)
    runner = CliRunner()
    result = runner.invoke(main, ["info", str(path), "-H", "8", "-W", "16", "--no-flip", "--rate", "20000",
                                  "--write-sidecar"])
    assert result.exit_code == 0, result.output
    assert f"sidecar         {path}.json written" in result.output
    side = tmp_path / "rec.dat.json"
    assert json.loads(side.read_text()) == {"height": 8, "width": 16, "flip": False, "rate": 20000.0, "head": 0}
    assert runner.invoke(main, ["info", str(path), "--json"]).output.count('"rate": 20000.0') == 1  # read back

    side.write_text(json.dumps({**json.loads(side.read_text()), "source": "camera 7"}))
    before = side.read_text()
    result = runner.invoke(main, ["info", str(path), "--rate", "40000", "--write-sidecar"])
    assert result.exit_code == 2 and f"{side} exists; --overwrite replaces" in result.output
    assert side.read_text() == before
    result = runner.invoke(main, ["info", str(path), "--rate", "40000", "--write-sidecar", "--overwrite"])
    assert result.exit_code == 0, result.output
    meta = json.loads(side.read_text())
    assert meta["rate"] == 40000.0 and meta["source"] == "camera 7" and meta["flip"] is False
    assert runner.invoke(main, ["info", str(path), "--overwrite"]).exit_code == 2


def test_info_write_sidecar_writes_nothing_when_the_size_is_refused(tmp_path):
    path = write_dat(tmp_path / "rec.dat", torch.zeros(4, 8, 16, dtype=torch.uint8), sidecar=False)
    result = CliRunner().invoke(main, ["info", str(path), "-H", "64", "-W", "16", "--write-sidecar"])
    assert result.exit_code == 1 and "shorter than one 64x16 spike frame" in result.output
    assert not (tmp_path / "rec.dat.json").exists()


def test_hot_mask_matches_a_plain_loop_and_stays_lean():
    """hot_mask takes its neighbour maxima shift by shift in place (info's memory bound); a plain
    loop over every pixel and its neighbours inside the image is the reference."""
    import numpy as np

    from spikekit.stats import HOT_FRACTION, HOT_NEIGHBOURS, hot_mask

    rng = np.random.default_rng(0)
    for h, w in [(1, 1), (1, 5), (4, 1), (6, 7)]:
        frames = 100
        counts = rng.choice([0, 30, 45, 46, 91, 100], size=(h, w))
        want = np.zeros((h, w), bool)
        for y in range(h):
            for x in range(w):
                near = [counts[y + dy, x + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                        if (dy or dx) and 0 <= y + dy < h and 0 <= x + dx < w]
                want[y, x] = counts[y, x] > HOT_FRACTION * frames and all(n < HOT_NEIGHBOURS * counts[y, x] for n in near)
        assert np.array_equal(hot_mask(torch.from_numpy(counts), frames).numpy(), want), (h, w)
