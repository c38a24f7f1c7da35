"""spikekit adapt: fine-tune the shipped weights on a recording, NIQE before and after."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import npz_to_dat
from ssml.adapt import RECIPE, adapt_config, eval_centres

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
                                       "--eval-frames", "1", "--threads", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    row = report["rows"][0]
    assert report["steps"] == 2 and row["frames"] == [100]  # the middle of centres 20 .. 179
    for method in ("tfp", "tfi", "ssml"):
        assert row["before"][method] > 0 and row["after"][method] > 0
    assert row["after"]["tfp"] == row["before"]["tfp"]  # only SSML changes
    assert (run / "last.pt").is_file() and (run / "data" / "heli.dat.json").is_file()
    assert json.loads((run / "adapt.json").read_text()) == report
    again = CliRunner().invoke(main, ["adapt", str(dat), "-o", str(run)])
    assert again.exit_code == 2 and "not empty" in again.output  # never overwrites a run


def test_adapt_checks_geometry_first(shared_data, tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["adapt", str(shared_data / "reds301/spike/200_part1_key_id151.dat"),
                                       "-H", "400", "-W", "250", "-o", str(run)])
    assert result.exit_code == 2 and "likely 250 x 400" in result.output
    assert not run.exists()
