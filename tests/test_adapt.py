"""spikekit adapt: fine-tune the shipped weights on a recording, NIQE before and after."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import npz_to_dat
from ssml.adapt import RECIPE, adapt_bin, adapt_config, eval_centres

REAL = "real/uhsr_caltech_4144_helicopter.npz"


def test_recipe_config(tmp_path):
    config = adapt_config([tmp_path / "a.dat"], tmp_path / "run", steps=7)
    assert config.init == "default" and config.sim_fraction == 0.0 and config.steps == 7
    assert config.dat == [str(tmp_path / "a.dat")] and config.batch == RECIPE["batch"]
    with pytest.raises(ValueError, match="lr"):
        adapt_config([tmp_path / "a.dat"], tmp_path / "run", lr=-1.0)


def test_eval_centres():
    assert eval_centres(200, 3) == [60, 100, 139]  # 20 + k * 159 / 4 for k = 1, 2, 3, rounded
    assert all(20 <= c <= 179 for c in eval_centres(200, 10))
    with pytest.raises(ValueError, match="at least 41"):
        eval_centres(40)


@pytest.mark.slow
def test_adapt_runs_and_reports(shared_data, tmp_path):
    dat = npz_to_dat(shared_data / REAL, tmp_path / "heli.dat")
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["adapt", str(dat), "-o", str(run), "--steps", "2",
                                       "--eval-frames", "3", "--threads", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    row = report["rows"][0]
    # frames 60 and 139 lie within 61 frames of the ends: SSML's binned (K = 3) windows are mirrored there
    assert report["steps"] == 2 and row["frames"] == [60, 100, 139] and report["bin"] == 3
    for method in ("tfp", "tfi", "ssml"):
        assert row["before"][method] > 0 and row["after"][method] > 0
    assert row["after"]["tfp"] == row["before"]["tfp"]  # only SSML changes
    assert (run / "last.pt").is_file() and (run / "data" / "heli.dat.json").is_file()
    assert json.loads((run / "adapt.json").read_text()) == report
    assert report["weights"] == str(run.resolve()) and row["recording"] == str(dat.resolve())  # absolute paths
    assert "adapt: NIQE of tfp, tfi, ssml at spike frames 60, 100, 139" in result.stderr
    again = CliRunner().invoke(main, ["adapt", str(dat), "-o", str(run)])
    assert again.exit_code == 2 and "not empty" in again.output  # never overwrites a run


def test_adapt_bins_dark_recordings_as_recon_reads_them(shared_data, tmp_path):
    import torch

    from spikekit.io import SpikeStream, write_dat

    g = torch.Generator().manual_seed(0)
    dark = write_dat(tmp_path / "dark.dat", (torch.rand(200, 16, 16, generator=g) < 0.02).to(torch.uint8))
    bright = write_dat(tmp_path / "bright.dat", (torch.rand(200, 16, 16, generator=g) < 0.3).to(torch.uint8))
    with SpikeStream(dark) as d, SpikeStream(bright) as b:
        assert adapt_bin([d]) == 3 and adapt_bin([b]) == 1 and adapt_bin([d, b]) == 1
        assert adapt_bin([d], frames=100) == 2  # only 100 frames are trained on: 2 x 41 fit, 3 x 41 do not
    config = adapt_config([dark], tmp_path / "run", dat_bin=3)
    assert config.dat_bin == 3
    with pytest.raises(ValueError, match="dat_bin"):
        adapt_config([dark], tmp_path / "run", dat_bin=0)


def test_adapt_checks_geometry_first(shared_data, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["adapt", str(shared_data / "reds301/spike/200_part1_key_id151.dat"),
                                       "-H", "400", "-W", "250", "-o", str(run)])
    assert result.exit_code == 2 and "likely 250 x 400" in result.output
    assert not run.exists()


def test_adapt_trains_a_recording_too_small_for_niqe(tmp_path):
    """A 64 x 96 recording (under NIQE's 193 x 193) adapts without a score instead of failing."""
    import torch

    from spikekit.io import write_dat

    g = torch.Generator().manual_seed(0)
    dat = write_dat(tmp_path / "small.dat", (torch.rand(160, 64, 96, generator=g) < 0.3).to(torch.uint8))
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["adapt", str(dat), "-o", str(run), "--steps", "1", "--eval-frames", "1",
                                       "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert "small.dat is 64 x 96, under the 193 x 193 pixels NIQE scores" in result.stderr
    report = json.loads(result.stdout)
    assert report["steps"] == 1 and report["rows"][0]["before"] == {} and (run / "last.pt").is_file()
