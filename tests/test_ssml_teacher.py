"""Online distillation (``TrainConfig.teacher``): a frozen network's output on every sample with
ground truth is a second target of the supervised loss (src/ssml/train.py ``Trainer._add_teacher``)."""
from __future__ import annotations

import pytest
import torch

from ssml.config import TrainConfig
from ssml.lite import LiteNet
from ssml.train import Trainer

from ssml_model_util import one_thread  # noqa: F401  (autouse fixture)


def teacher_file(tmp_path) -> str:
    torch.manual_seed(3)
    path = tmp_path / "teacher.pt"
    torch.save(LiteNet().state_dict(), path)
    return str(path)


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(out=str(tmp_path / "run"), steps=2, batch=2, crop=16, model="lite", objective="supervised",
                images=["camera", "coins"], image_size=64, val_sim=0, val_every=0, ckpt_every=0,
                ckpt_minutes=0, threads=1, channels_last=False, amp="none")  # float32: the plain reference below
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("objective, model", [("supervised", "lite"), ("hybrid", "ssml")])
def test_the_teacher_term_is_the_l1_to_the_frozen_teachers_output(tmp_path, objective, model):
    path = teacher_file(tmp_path)
    trainer = Trainer(config(tmp_path, teacher=path, teacher_weight=0.5, objective=objective, model=model,
                             nla=False))
    batch = trainer.data.next()
    trainer.data.next = lambda: batch
    spikes, gt = batch["spikes"], batch["gt"]
    n = gt.shape[0]
    teacher = LiteNet()
    teacher.load_state_dict(torch.load(path))
    with torch.no_grad():
        if model == "lite":
            pred = trainer.model(spikes[:n])
        else:
            trainer.model.train()
            pred = trainer.model.nbsn(spikes)[:n]
        want = (pred - teacher.eval()(spikes[:n])).abs().mean()
    frozen = [p.clone() for p in trainer.teacher.parameters()]
    out = trainer.train_step()
    assert out["loss/teacher"].item() == pytest.approx(want.item(), rel=1e-5)
    base = out["loss/supervised"] if model == "lite" else (out["loss/reconstruction"] + 0.01 * out["loss/mutual"]
                                                            + out["loss/supervised"])
    assert out["loss/total"].item() == pytest.approx(base.item() + 0.5 * want.item(), rel=1e-5)
    # the teacher is not trained: not in the optimiser, unchanged by the step
    assert all(torch.equal(a, b) for a, b in zip(frozen, trainer.teacher.parameters()))
    trained = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not trained & {id(p) for p in trainer.teacher.parameters()}


def test_without_a_teacher_no_teacher_term(tmp_path):
    out = Trainer(config(tmp_path)).train_step()
    assert "loss/teacher" not in out and out["loss/total"].item() == out["loss/supervised"].item()


@pytest.mark.parametrize("values, message", [
    ({"teacher": "lite", "model": "ssml", "objective": "self"}, r"config teacher='lite': expected objective"),
    ({"teacher": "lite", "teacher_weight": -1.0}, r"config teacher_weight=-1.0: expected a weight >= 0"),
    ({"teacher": "lite", "teacher_ensemble": 3}, r"config teacher_ensemble=3: expected one of 1, 2, 4, 8"),
])
def test_bad_teacher_settings_are_one_line(tmp_path, values, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **values).validate()


def test_a_missing_teacher_file_is_named_before_the_run_folder_is_made(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        Trainer(config(tmp_path, teacher=str(tmp_path / "nothing.pt")))
    assert not (tmp_path / "run").exists()


def test_a_teacher_file_is_kept_as_an_absolute_path_and_shipped_words_as_they_are(tmp_path, monkeypatch):
    from ssml.config import absolute_paths as _absolute_paths

    monkeypatch.chdir(tmp_path)
    assert _absolute_paths({"teacher": "runs/t.pt"}) == {"teacher": str(tmp_path / "runs" / "t.pt")}
    assert _absolute_paths({"teacher": "lite"}) == {"teacher": "lite"}
    assert _absolute_paths({"teacher": ""}) == {"teacher": ""}


@pytest.mark.parametrize("value", ["true", "1", "[a]"])
def test_a_teacher_that_is_no_file_name_is_one_line_from_the_cli(tmp_path, value):
    from click.testing import CliRunner

    from spikekit.cli import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", "-o", str(out), "--steps", "1", "--set", "model=lite",
                                       "--set", "objective=supervised", "--set", f"teacher={value}"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: config teacher=")
    assert not out.exists()


def test_a_missing_teacher_file_names_the_setting_and_the_shipped_words(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^teacher: .*nothing\.pt.*\('lite' and 'default' name the shipped"):
        Trainer(config(tmp_path, teacher=str(tmp_path / "nothing.pt")))
