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
