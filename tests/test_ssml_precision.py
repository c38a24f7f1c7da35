"""Inference precision (ssml/precision.py): auto = bf16 where the hardware has it, else fp32."""
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
