"""SSML losses against plain formulas, and weight loading (load_model) in all accepted forms."""
from __future__ import annotations

import os
import numpy as np
import pytest
import torch

import ssml
from ssml import weights_io
from ssml.losses import LossTerms, pseudo_label, ssml_loss, supervised_loss
from ssml_model_util import one_thread, spikes  # noqa: F401  (autouse fixture)


# --- losses ------------------------------------------------------------------------------------

def test_tfp7_label():
    s = spikes(3, 41, 5, 6, seed=1)
    expected = sum(s[:, f] for f in range(17, 24)) / 7
    torch.testing.assert_close(pseudo_label(s), expected[:, None])
    torch.testing.assert_close(pseudo_label(s.to(torch.uint8), "tfp7"), expected[:, None])


def test_tfi12_label():
    s = spikes(2, 41, 4, 4, p=0.1, seed=2)
    label = pseudo_label(s, "tfi12")
    for b in range(2):
        for y in range(4):
            for x in range(4):
                px = s[b, :, y, x]
                left = [f for f in range(9, 21) if px[f] > 0]
                right = [f for f in range(21, 33) if px[f] > 0]
                isi = (right[0] if right else 32) - (left[-1] if left else 8)
                assert label[b, 0, y, x].item() == pytest.approx(1 / isi)


def test_label_errors():
    with pytest.raises(ValueError, match="kind"):
        pseudo_label(spikes(1, 41, 2, 2), "tfp9")
    with pytest.raises(ValueError, match="41"):
        pseudo_label(spikes(1, 40, 2, 2))


def test_loss_matches_formula():
    g = torch.Generator().manual_seed(3)
    bsn, nbsn, label = (torch.rand(2, 1, 4, 5, generator=g, dtype=torch.float64) for _ in range(3))
    terms = ssml_loss(bsn, nbsn, label)
    assert isinstance(terms, LossTerms)
    rec = ((bsn - label) ** 2).sum() / bsn.numel()
    mutual = ((nbsn - bsn) ** 2).sum() / bsn.numel()
    assert terms.reconstruction.item() == pytest.approx(rec.item(), rel=1e-12)
    assert terms.mutual.item() == pytest.approx(mutual.item(), rel=1e-12)
    assert terms.total.item() == pytest.approx(rec.item() + 0.01 * mutual.item(), rel=1e-12)
    warm = ssml_loss(bsn, None, label, mutual_weight=0.5)
    assert warm.total.item() == pytest.approx(rec.item()) and warm.mutual.item() == 0
    with pytest.raises(ValueError, match="shapes differ"):
        ssml_loss(bsn, nbsn[:, :, :3], label)


def test_loss_detaches_nothing():
    """The mutual term trains both networks: gradients reach the BSN and the NBSN output."""
    bsn = torch.rand(1, 1, 3, 3, requires_grad=True)
    nbsn = torch.rand(1, 1, 3, 3, requires_grad=True)
    label = bsn.detach().clone()  # reconstruction gradient is 0 here; only the mutual term acts
    ssml_loss(bsn, nbsn, label).total.backward()
    torch.testing.assert_close(nbsn.grad, 0.01 * 2 * (nbsn - bsn).detach() / 9)
    torch.testing.assert_close(bsn.grad, -0.01 * 2 * (nbsn - bsn).detach() / 9)


def test_supervised_loss_matches_a_loop():
    """L1 to gain x GT, summed by explicit loops; shapes must agree."""
    torch.manual_seed(1)
    pred, gt = torch.rand(2, 1, 4, 5), torch.rand(2, 1, 4, 5)
    l1 = sum(abs(pred[n, 0, i, j].item() - 0.6 * gt[n, 0, i, j].item())
             for n in range(2) for i in range(4) for j in range(5)) / 40
    assert supervised_loss(pred, gt, 0.6).item() == pytest.approx(l1, rel=1e-5)
    assert supervised_loss(0.6 * gt, gt, 0.6).item() == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        supervised_loss(pred, gt[:1], 0.6)


# --- weight loading ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    torch.manual_seed(4)
    return ssml.SSML(nla=False)


def assert_same(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_load_bare_state_dict(model, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(model.state_dict(), path)
    loaded = ssml.load_model(path)
    assert not loaded.training and loaded.nla is False
    assert_same(loaded, model)


def test_load_module_prefix(model, tmp_path):
    path = tmp_path / "ddp.pt"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, path)
    assert_same(ssml.load_model(str(path)), model)


def test_load_checkpoint_dict(model, tmp_path):
    """A training checkpoint with optimizer, RNG states (as tensors) and config; or its run folder."""
    path = tmp_path / "last.pt"
    opt = torch.optim.Adam(model.parameters())
    torch.save({"model": {"module." + k: v for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "step": 7, "config": {"nla": False},
                "rng": {"numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                        "torch": torch.get_rng_state()}}, path)
    assert_same(ssml.load_model(path), model)
    assert_same(ssml.load_model(tmp_path), model)


class _Payload:
    """Unpickling this would run code; the loader must refuse it without executing anything."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/spikekit_pwned",))


def test_load_never_runs_pickled_code(model, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": model.state_dict(), "extra": _Payload()}, path)
    with pytest.raises(ValueError, match=r"evil\.pt: not a PyTorch weights file"):
        ssml.load_model(path)
    assert not os.path.exists("/tmp/spikekit_pwned")


def test_load_rejects_non_weights_file(tmp_path):
    path = tmp_path / "stream.dat"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ValueError, match=r"stream\.dat: not a PyTorch weights file"):
        ssml.load_model(path)


def test_load_nbsn_only_and_nla_from_keys(tmp_path):
    torch.manual_seed(5)
    nbsn = ssml.NBSN(nla=True)
    path = tmp_path / "nbsn.pt"
    torch.save(nbsn.state_dict(), path)
    loaded = ssml.load_model(path)
    assert loaded.nla is True
    assert_same(loaded.nbsn, nbsn)


def test_load_mismatch_names_key_and_shapes(model, tmp_path):
    state = dict(model.state_dict())
    key = "nbsn.unet1.enc1.0.conv.weight"
    state[key] = torch.zeros(48, 44, 3, 3)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"nbsn\.unet1\.enc1\.0\.conv\.weight.*\(48, 44, 3, 3\).*\(48, 43, 3, 3\)"):
        ssml.load_model(path)
    del state[key]
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"keys 1 missing \(nbsn\.unet1\.enc1\.0\.conv\.weight\)$"):
        ssml.load_model(path)
    with pytest.warns(UserWarning, match=r"strict=False; keys 1 missing \(nbsn\.unet1\.enc1\.0\.conv\.weight\)"):
        ssml.load_model(path, strict=False)  # non-strict loads what is there, and says what was not
    torch.save(dict(model.state_dict(), extra=torch.zeros(1)), path)
    with pytest.raises(ValueError, match=r"keys 1 unexpected \(extra\)$"):
        ssml.load_model(path)


def test_every_missing_and_unexpected_key_is_counted_in_one_line(model, tmp_path):
    """Issue 33: the strict error named only the first missing key; now both lists, counted,
    with the first few of each (the order of the model's state dict)."""
    from ssml.weights_io import SHOWN_KEYS

    own = list(model.state_dict())
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("bsn.")}
    state.update({f"head{i}.weight": torch.zeros(1) for i in range(5)})
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    missing = [k for k in own if k.startswith("bsn.")]
    with pytest.raises(ValueError) as info:
        ssml.load_model(path)
    message = str(info.value)
    assert "\n" not in message
    assert (f"keys {len(missing)} missing ({', '.join(missing[:SHOWN_KEYS])}, ... {len(missing) - SHOWN_KEYS} more); "
            f"5 unexpected (head0.weight, head1.weight, head2.weight, ... 2 more)") in message


@pytest.mark.parametrize("wrapper", ["state_dict", "model_state_dict"])
def test_other_tools_checkpoint_wrappers_load(model, tmp_path, wrapper):
    path = tmp_path / f"{wrapper}.pt"
    torch.save({wrapper: model.state_dict(), "epoch": 3, "optimizer_state_dict": {"lr": 1e-3}}, path)
    assert_same(ssml.load_model(path), model)


def test_non_strict_load_with_no_matching_key_is_refused(model, tmp_path):
    """strict=False loads what matches; with nothing matching it would return random weights."""
    path = tmp_path / "other.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.bias": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"other\.pt: none of the file's 2 keys .*'encoder\.weight'.* not SSML weights"):
        ssml.load_model(path, strict=False)
    one = tmp_path / "one.pt"
    key = "bsn.head.2.bias" if "bsn.head.2.bias" in model.state_dict() else next(iter(model.state_dict()))
    torch.save({key: model.state_dict()[key], "unrelated": torch.zeros(1)}, one)
    with pytest.warns(UserWarning, match=r"1 unexpected \(unrelated\)"):
        loaded = ssml.load_model(one, strict=False, nla=model.nla)  # one matching key is a partial load
    assert torch.equal(loaded.state_dict()[key], model.state_dict()[key])


def test_load_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="not an SSML state dict"):
        ssml.load_model(path)


def test_missing_files(tmp_path, monkeypatch):
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        ssml.load_model(missing)
    monkeypatch.setattr(weights_io, "DEFAULT_WEIGHTS", tmp_path / "weights" / "ssml_default.pt")
    with pytest.raises(FileNotFoundError, match="ssml_default.pt"):
        ssml.load_model()


@pytest.mark.cuda
def test_load_gpu_saved_on_cpu(model, tmp_path):
    path = tmp_path / "gpu.pt"
    torch.save({k: v.cuda() for k, v in model.state_dict().items()}, path)
    loaded = ssml.load_model(path, device="cpu")
    assert next(loaded.parameters()).device.type == "cpu"
    assert_same(loaded, model)


def test_export_from_a_checkpoint_folder(tmp_path):
    """spikekit export: a run folder's last.pt -> a float32 state dict that loads strictly."""
    from click.testing import CliRunner

    from spikekit.cli import main as cli

    torch.manual_seed(3)
    model = ssml.SSML(nla=False)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": {k: v.to(torch.bfloat16) if v.is_floating_point() else v
                          for k, v in model.state_dict().items()},
                "optimizer": {}, "step": 7}, run / "last.pt")
    out = tmp_path / "w.pt"
    res = CliRunner().invoke(cli, ["export", str(run), "-o", str(out)])
    assert res.exit_code == 0 and "step 7" in res.output, res.output
    state = torch.load(out, weights_only=True)
    assert set(state) == set(model.state_dict()) and all(v.dtype == torch.float32 for v in state.values())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(state[k], v.to(torch.bfloat16).float())
    loaded = ssml.load_model(out)
    assert not loaded.nla
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x.pt")])
    assert res.exit_code != 0 and "missing" in res.output and not (tmp_path / "x.pt").exists()


def test_export_averages_several_checkpoints(tmp_path):
    """spikekit export A B C -o W: W is the mean of the three models' weights; sources of
    different models are refused with a one-line error and nothing is written."""
    from click.testing import CliRunner

    from spikekit.cli import main as cli
    from ssml.lite import LiteNet

    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(LiteNet())
        torch.save({"model": models[-1].state_dict(), "optimizer": {}, "step": 100 * (seed + 1)},
                   tmp_path / f"step{seed}.pt")
    out = tmp_path / "avg.pt"
    res = CliRunner().invoke(cli, ["export", *(str(tmp_path / f"step{s}.pt") for s in range(3)), "-o", str(out)])
    assert res.exit_code == 0 and "mean of 3 sources, the last at step 300" in res.output, res.output
    state = torch.load(out, weights_only=True)
    for k, v in models[0].state_dict().items():
        torch.testing.assert_close(state[k], sum(m.state_dict()[k] for m in models) / 3)
    torch.save(ssml.SSML(nla=False).state_dict(), tmp_path / "pair.pt")
    bad = tmp_path / "bad.pt"
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "step0.pt"), str(tmp_path / "pair.pt"), "-o", str(bad)])
    assert res.exit_code != 0 and "different model" in res.output and not bad.exists()
    assert "Traceback" not in res.output



def test_kept_stage_checkpoints_load_and_are_described():
    """Every weights file in checkpoints/ loads as a network and is named in its README with the
    command that made it (checkpoints/README.md)."""
    folder = os.path.join(os.path.dirname(__file__), "..", "checkpoints")
    readme = open(os.path.join(folder, "README.md")).read()
    files = sorted(f for f in os.listdir(folder) if f.endswith(".pt"))
    assert files
    for name in files:
        assert f"`{name}`" in readme and f"-o checkpoints/{name}" in readme
        net = ssml.load_model(os.path.join(folder, name))
        assert isinstance(net, torch.nn.Module) and all(torch.isfinite(p).all() for p in net.parameters())
