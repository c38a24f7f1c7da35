"""Sub-stream reuse (src/ssml/sequence.py): sequences at stride 7/14 give the bits of isolated windows."""
from __future__ import annotations

import pytest
import torch

import ssml
from spikekit.recon import get_method, reconstruct
from spikekit.recon import source as source_module
from ssml.networks import NBSN
from ssml.sequence import REUSE_STRIDES, SubstreamReuse, reuses_substreams
from ssml_model_util import one_thread, spikes  # noqa: F401  (autouse fixture)

H, W = 32, 32


def _nbsn(nla=True, seed=0):
    torch.manual_seed(seed)
    model = NBSN(nla=nla).eval()
    with torch.no_grad():  # attention that changes the features (its gammas start at 0)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    return model


def _counting(model):
    """Wrap ``model.substream_features`` to count its calls."""
    calls = []
    inner = model.substream_features

    def counted(sub):
        calls.append(sub.shape)
        return inner(sub)

    model.substream_features = counted
    return calls


@pytest.mark.parametrize("nla", [True, False])
@pytest.mark.parametrize("stride", [7, 14])
def test_reuse_is_bit_identical_to_isolated_windows(nla, stride):
    model = _nbsn(nla)
    stream = spikes(41 + 4 * stride, H, W, seed=3)
    starts = list(range(0, len(stream) - 40, stride))
    with torch.no_grad():
        isolated = [model(stream[s:s + 41][None]) for s in starts]
        calls = _counting(model)
        reuse = SubstreamReuse(model)
        shared = [reuse(stream[s:s + 41][None], s) for s in starts]
    for a, b in zip(isolated, shared):
        assert torch.equal(a, b)
    # the first window computes 3 sub-streams, each later one the 1 (stride 7) or 2 (14) new ones
    assert len(calls) == 3 + (len(starts) - 1) * (stride // 7)


def test_reuse_keeps_streams_apart_and_recomputes_on_a_jump():
    model = _nbsn(nla=False)
    a, b = spikes(60, H, W, seed=4), spikes(60, H, W, seed=5)
    with torch.no_grad():
        reuse = SubstreamReuse(model)
        calls = _counting(model)
        out_a = reuse(a[0:41][None], 0, stream=0)
        out_b = reuse(b[0:41][None], 0, stream=1)  # same start, other stream: no sharing
        out_jump = reuse(a[19:60][None], 19, stream=0)  # 19 frames on: nothing shared
        assert len(calls) == 9
        assert torch.equal(out_a, model(a[0:41][None])) and torch.equal(out_b, model(b[0:41][None]))
        assert torch.equal(out_jump, model(a[19:60][None]))


def test_reuse_rejects_batches_and_other_models():
    with pytest.raises(ValueError, match="one window"):
        SubstreamReuse(_nbsn(False))(spikes(2, 41, 8, 8), 0)
    with pytest.raises(ValueError, match="expected an NBSN"):
        SubstreamReuse(torch.nn.Linear(2, 2))


def test_strides_that_share():
    assert REUSE_STRIDES == (7, 14)
    assert reuses_substreams([20, 27, 34]) and reuses_substreams([20, 34, 41])
    assert not reuses_substreams([20]) and not reuses_substreams([20, 41]) and not reuses_substreams([20, 30])


@pytest.mark.filterwarnings("ignore:.*unlike its training data")
def test_recon_at_stride_7_matches_single_frames(tmp_path, monkeypatch):
    """Through -m ssml, chunked into several reads: a stride-7 sequence equals each frame alone."""
    model = ssml.SSML(nla=True)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    stream = spikes(100, H, W, seed=6, dtype=torch.uint8)
    monkeypatch.setattr(source_module, "MAX_CHUNK_FRAMES", 60)  # windows split over chunks
    m = get_method("ssml")
    seq = reconstruct(m, stream, stride=7, weights=str(path), scale=1.0)
    centres = list(range(20, 100 - 20, 7))
    assert seq.shape == (len(centres), H, W)
    for k, c in enumerate(centres):
        assert torch.equal(seq[k], reconstruct(m, stream, at=c, weights=str(path), scale=1.0))


@pytest.mark.cuda
def test_cuda_sequence_makes_no_host_sync():
    """On a GPU the stride-7 path (bf16 autocast) queues every frame without waiting for it."""
    model = _nbsn(nla=True).cuda().to(memory_format=torch.channels_last)
    stream = spikes(41 + 21, H, W, seed=7).cuda()
    reuse = SubstreamReuse(model)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        reuse(stream[0:41][None], 0)  # first call: kernel loading may synchronise
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            outs = [reuse(stream[s:s + 41][None], s) for s in (7, 14, 21)]
        finally:
            torch.cuda.set_sync_debug_mode(0)
    assert all(o.shape == (1, 1, H, W) and torch.isfinite(o).all() for o in outs)
