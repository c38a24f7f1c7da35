"""Inference precision (src/ssml/precision.py): auto = bf16 where the hardware has it, else fp32."""
from __future__ import annotations

import pytest
import torch

import ssml
from spikekit.recon import get_method, reconstruct
from ssml import precision
from ssml_model_util import one_thread, spikes  # noqa: F401  (autouse fixture)


def test_resolve(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.resolve_precision("FP32", "cpu") == "fp32"
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.resolve_precision("fp16", "cpu")


def test_native_bf16_reads_the_cpu_flags(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "Path", lambda _: info)
    info.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert precision.native_bf16("cpu")
    info.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert not precision.native_bf16("cpu")
    assert not precision.native_bf16("meta")


@pytest.mark.filterwarnings("ignore:.*unlike its training data")
@pytest.mark.parametrize("native", [True, False])
def test_default_is_auto(monkeypatch, tmp_path, native):
    monkeypatch.setattr(precision, "native_bf16", lambda device: native)
    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    model = ssml.SSML(nla=False)
    with torch.no_grad():
        model.nbsn.head.c.weight.abs_().mul_(20)  # positive outputs (negative ones clip to 0)
    torch.save(model.state_dict(), path)
    stream = spikes(45, 12, 16, seed=2, dtype=torch.uint8)
    m = get_method("ssml")
    default = reconstruct(m, stream, at=22, weights=str(path), scale=1.0)
    bf16 = reconstruct(m, stream, at=22, weights=str(path), scale=1.0, precision="bf16")
    fp32 = reconstruct(m, stream, at=22, weights=str(path), scale=1.0, precision="fp32")
    assert not torch.equal(bf16, fp32)  # the two precisions differ, so the check below means something
    assert torch.equal(default, bf16 if native else fp32)


ZEN3 = "flags\t\t: fpu sse4_2 avx avx2 fma bmi2 sha_ni vaes vpclmulqdq\n"  # an AMD EPYC 7003: no AVX-512
ZEN4 = "flags\t\t: fpu avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"


@pytest.fixture
def cpu(monkeypatch, tmp_path):
    """``cpu(flags)`` makes ``ssml.precision`` read these /proc/cpuinfo flags."""
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(precision, "CPUINFO", info)
    return info.write_text


def test_resolve_amp_follows_the_inference_rule(cpu):
    cpu(ZEN3)
    assert precision.resolve_amp("auto", "cpu") == "none" and precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_amp("bf16", "cpu") == "bf16" and precision.resolve_amp("none", "cpu") == "none"
    assert "no native bf16" in precision.describe_precision("fp32", "cpu")
    cpu(ZEN4)
    assert precision.resolve_amp("auto", "cpu") == "bf16" and precision.resolve_precision("auto", "cpu") == "bf16"
    with pytest.raises(ValueError, match="auto, none, bf16"):
        precision.resolve_amp("fp16", "cpu")


@pytest.mark.parametrize("flags,amp", [(ZEN3, "none"), (ZEN4, "bf16")])
def test_training_and_adapt_pick_the_precision_from_the_cpu_and_say_it(cpu, tmp_path, capsys, flags, amp):
    """Issue 29: `spikekit adapt` defaulted to bf16, 10x slower than float32 on a CPU without
    native bf16. Training (and so adapt) now resolves amp 'auto' as inference does, records the
    settled value (a resumed run repeats it) and prints it when the run starts."""
    from ssml.adapt import RECIPE
    from ssml.config import TrainConfig
    from ssml.train import Trainer

    cpu(flags)
    assert TrainConfig().amp == "auto" and RECIPE["amp"] == "auto"
    config = TrainConfig(out=str(tmp_path / "run"), steps=1, batch=1, crop=16, nla=False, images=["camera"],
                         image_size=64, val_sim=0, val_every=0, ckpt_every=0, ckpt_minutes=0, threads=1)
    trainer = Trainer(config)
    assert trainer.cfg.amp == amp and config.amp == "auto"  # the caller's config is left as given
    trainer.run()
    err = capsys.readouterr().err
    assert ("float32 (this CPU has no native bf16)" if amp == "none" else "bf16 autocast (this CPU computes") in err
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["config"]
    assert saved["amp"] == amp
