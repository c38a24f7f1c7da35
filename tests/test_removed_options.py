"""Options removed in issue 30 because they gained nothing on data they were not chosen on:
``--param blend`` of ``-m ssml``/``-m ssml-lite``, online distillation (``teacher``,
``teacher_weight``, ``teacher_ensemble`` of the training config) and the supervised loss's
``edge_weight`` and ``relative_loss``. Asking for them now is the usual unknown-name error; an
older run whose config or checkpoint holds those keys still loads and resumes (src/ssml/config.py
``RETIRED``)."""
from __future__ import annotations

import warnings

import pytest
import torch
import yaml
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from ssml.config import RETIRED, TrainConfig
from ssml.method import SsmlOptions

from ssml_model_util import one_thread  # noqa: F401  (autouse fixture)

OLD_KEYS = {"teacher": "", "teacher_weight": 1.0, "teacher_ensemble": 1, "edge_weight": 0.0,
            "relative_loss": False}  # every pre-issue-30 config.yaml


@pytest.mark.parametrize("method", ["ssml", "ssml-lite"])
def test_blend_is_an_unknown_parameter(tmp_path, method):
    spikes = (torch.rand(60, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.4).to(torch.uint8)
    dat = spikekit.write_dat(tmp_path / "s.dat", spikes)
    out = tmp_path / "x.png"
    res = CliRunner().invoke(main, ["recon", str(dat), "-m", method, "--at", "30", "--param", "blend=1",
                                    "-o", str(out)])
    assert res.exit_code == 1 and not out.exists()
    assert res.output.strip().splitlines() == [
        f"Error: {method}: unknown parameter(s) ['blend']; known: precision, batch, anchor, bin, ensemble, ends"]
    assert "blend" not in {f for f in SsmlOptions.__dataclass_fields__}


@pytest.mark.parametrize("setting", ["teacher=lite", "edge_weight=1", "relative_loss=true"])
def test_a_retired_setting_is_an_unknown_training_key(tmp_path, setting):
    res = CliRunner().invoke(main, ["train", "-o", str(tmp_path / "r"), "--steps", "1", "--set", setting])
    key = setting.split("=")[0]
    assert res.exit_code != 0 and f"unknown training config key(s) ['{key}']" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "r").exists()


def test_an_old_config_yaml_with_retired_keys_loads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**TrainConfig().to_dict(), **OLD_KEYS, "lr": 1e-3}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run that used no teacher loads silently
        assert TrainConfig.load(path) == TrainConfig(lr=1e-3)
    path.write_text(yaml.safe_dump({**OLD_KEYS, "teacher": "lite", "teacher_weight": 3.0, "objective": "supervised"}))
    with pytest.warns(UserWarning, match=r"config\.yaml: teacher='lite' ignored: the teacher term \(online "
                                         r"distillation\) was removed \(issue 30\); the run goes on without it"):
        assert TrainConfig.load(path) == TrainConfig(objective="supervised")
    path.write_text(yaml.safe_dump({**OLD_KEYS, "edge_weight": 2.0, "relative_loss": True}))
    with pytest.warns(UserWarning) as record:
        assert TrainConfig.load(path) == TrainConfig()
    assert [str(w.message) for w in record] == [
        f"{path}: edge_weight=2.0 ignored: the edge term of the supervised loss was removed (issue 30); "
        "the run goes on without it",
        f"{path}: relative_loss=True ignored: the relative supervised loss was removed (issue 30); "
        "the run goes on without it"]


@pytest.mark.parametrize("teacher", ["", "lite"])
def test_an_old_run_with_teacher_keys_resumes(tmp_path, teacher):
    out = tmp_path / "r"
    common = ["-o", str(out), "--crop", "16", "--batch", "1", "--no-nla", "--val-every", "0", "--threads", "1",
              "--set", "images=[camera]", "--set", "image_size=64", "--set", "val_sim=0"]
    assert CliRunner().invoke(main, ["train", *common, "--steps", "1", "-q"]).exit_code == 0
    ckpt = torch.load(out / "last.pt", weights_only=True)  # as an older version wrote it
    ckpt["config"].update({**OLD_KEYS, "teacher": teacher})
    torch.save(ckpt, out / "last.pt")
    res = CliRunner().invoke(main, ["train", "--resume", str(out), "--steps", "2", "-q"])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert warned == ([f"warning: {out / 'last.pt'}: teacher='lite' ignored: the teacher term (online distillation) "
                       "was removed (issue 30); the run goes on without it"] if teacher else [])
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 2
    assert not set(RETIRED) & set(yaml.safe_load((out / "config.yaml").read_text()))

