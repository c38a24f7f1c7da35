"""``--param bin``: temporal binning of dark streams for ``-m ssml`` and ``-m ssml-lite``
(src/ssml/binning.py), checked against a plain reference: OR over groups of spike frames, the
network on the binned window, then brightness anchoring to the spike frames read."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main as cli
from spikekit.io import write_dat
from spikekit.recon import get_method, reconstruct
from ssml.binning import BIN_RATE, MAX_BIN, bin_windows, check_bin, choose_bin, span
from ssml_model_util import one_thread, random_lite  # noqa: F401  (one_thread: autouse fixture)

H, W, T = 12, 16, 260


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_lite(tmp_path_factory.mktemp("w"), seed=0)


def dark_stream(rate, frames=T, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(frames, H, W, generator=g) < rate).to(torch.uint8)


def reference(model, stream, centre, k, anchor=True):
    """Plain: frames [centre - 41k//2, ...) of the stream, OR over each group of k, the network,
    then x (mean rate of the frames read / mean output), or / k without anchoring."""
    n = 41 * k
    frames = stream[centre - n // 2:centre - n // 2 + n].numpy()
    binned = np.zeros((41, H, W), dtype=np.float32)
    for j in range(41):
        for i in range(k):
            binned[j] = np.maximum(binned[j], frames[j * k + i])
    with torch.no_grad():
        raw = model(torch.from_numpy(binned)[None])[0, 0].double()
    if anchor:  # a non-positive mean output is left as is
        raw = raw * (frames.mean() / raw.mean()) if raw.mean() > 0 else raw
    else:
        raw = raw / k
    return (raw / 0.6).clamp(0, 1).float()


def test_choose_bin_follows_the_rate():
    assert [choose_bin(r) for r in (0.0, 0.01, 0.03, 0.034, 0.05, 0.051, 0.1, 0.3)] == [3, 3, 3, 2, 2, 1, 1, 1]
    for rate in np.linspace(0.001, 0.6, 200):
        k = choose_bin(rate)
        assert 1 <= k <= MAX_BIN and (k == 1 or k * rate <= BIN_RATE) and (k == MAX_BIN or (k + 1) * rate > BIN_RATE)


@pytest.mark.parametrize("bad", [0, 17, -1, 2.5, True, "x", None])
def test_bad_bin_is_refused(bad):
    with pytest.raises(ValueError, match="bin must be 'auto' or an integer"):
        check_bin(bad)
    assert check_bin(" Auto ") == "auto" and check_bin(4) == 4


def test_bin_windows_is_an_or_over_groups():
    x = (torch.rand(2, 41 * 3, 5, 6, generator=torch.Generator().manual_seed(2)) < 0.3).to(torch.uint8)
    out = bin_windows(x, 3)
    ref = np.stack([[x[b, 3 * j:3 * j + 3].numpy().max(0) for j in range(41)] for b in range(2)]) > 0
    assert out.dtype == torch.bool and np.array_equal(out.numpy(), ref)
    assert torch.equal(bin_windows(x[:, :41], 1), x[:, :41] > 0)
    with pytest.raises(ValueError, match="expected 82 spike frames"):
        bin_windows(x, 2)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_valid_range_and_span(k):
    before, after = span(k)
    assert before + after + 1 == 41 * k and before - after in (0, 1)
    opts = get_method("ssml").make_options(bin=k)
    assert get_method("ssml").valid(T, opts) == (before, T - 1 - after)


@pytest.mark.parametrize("k,anchor", [(2, True), (3, True), (3, False)])
def test_binned_reconstruction_matches_the_reference(weights, k, anchor):
    path, model = weights
    stream = dark_stream(0.03)
    at = [span(k)[0], 130, T - 1 - span(k)[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = reconstruct(get_method("ssml-lite"), stream, at=at, weights=path, bin=k, anchor=anchor,
                             precision="fp32")
    for image, centre in zip(images, at):
        assert image.std() > 0.01  # an image, not a clipped constant
        torch.testing.assert_close(image, reference(model, stream, centre, k, anchor), rtol=1e-4, atol=1e-5)


def test_auto_picks_by_the_rate_and_the_stream_length(weights):
    path, _ = weights
    method = get_method("ssml-lite")

    def same(stream, k, at=80, pad="none"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = reconstruct(method, stream, at=at, weights=path, precision="fp32", pad=pad)
            b = reconstruct(method, stream, at=at, weights=path, precision="fp32", bin=k, pad=pad)
        return torch.equal(a, b)

    assert same(dark_stream(0.02), 3)
    assert same(dark_stream(0.045), 2)
    assert same(dark_stream(0.3), 1)
    short = dark_stream(0.02, frames=100)  # 2 x 41 frames fit, 3 x 41 do not
    assert same(short, 2, at=50) and same(short, 3, at=50, pad="reflect")


@pytest.mark.parametrize("options", [{"bin": 2}, {"bin": 1, "ensemble": 2}])
def test_stride_seven_with_bins_matches_single_frames(tmp_path, options):
    """At --stride 7 the NBSN shares sub-streams between windows only without binning and
    without the self-ensemble; with either, each output must equal the output computed alone."""
    import ssml

    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    torch.save(ssml.SSML(nla=False).state_dict(), path)
    stream = dark_stream(0.03, frames=120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = reconstruct(get_method("ssml"), stream, start=41, stop=70, stride=7, weights=str(path),
                          precision="fp32", **options)
        alone = [reconstruct(get_method("ssml"), stream, at=c, weights=str(path), precision="fp32", **options)
                 for c in range(41, 70, 7)]
    torch.testing.assert_close(seq, torch.stack(alone), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cache_mb", [2048, 0])
def test_training_windows_are_binned_like_recon(tmp_path, cache_mb):
    """DatWindows(bin=3), from the device cache or from disk: 123 frames of the stream, the crop,
    the flip/rotation, then the OR of each 3 frames (plain NumPy)."""
    from ssml.data import DatWindows

    stream = dark_stream(0.05)
    path = write_dat(tmp_path / "s.dat", stream)
    windows = DatWindows([path], 8, bin=3, cache_mb=cache_mb)
    f, t0, y0, x0, d4 = windows.draw(5, torch.Generator().manual_seed(4))
    got = windows.windows(f, t0, y0, x0, d4)
    assert got.shape == (5, 41, 8, 8) and got.dtype == torch.float32
    for i in range(5):
        t, y, x, k = int(t0[i]), int(y0[i]), int(x0[i]), int(d4[i])
        assert 0 <= t <= T - 123
        crop = stream[t:t + 123, y:y + 8, x:x + 8].numpy()
        crop = np.rot90(crop[..., ::-1] if k >= 4 else crop, k % 4, axes=(-2, -1))
        want = crop.reshape(41, 3, 8, 8).max(axis=1).astype(np.float32)
        np.testing.assert_array_equal(got[i].numpy(), want)
    with pytest.raises(ValueError, match="123 frames"):
        DatWindows([write_dat(tmp_path / "short.dat", stream[:100])], 8, bin=3)


def test_cli_says_the_bin_and_refuses_a_bad_one(weights, tmp_path):
    path, _ = weights
    dat = tmp_path / "dark.dat"
    write_dat(dat, dark_stream(0.02))
    args = ["recon", str(dat), "-H", str(H), "-W", str(W), "-m", "ssml-lite", "--weights", path]
    res = CliRunner().invoke(cli, args + ["--at", "130", "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 0, res.output
    assert "with bin 3 (123-frame windows; --param bin=1 reads 41)" in res.output
    res = CliRunner().invoke(cli, args + ["--at", "30", "-o", str(tmp_path / "b.png")])
    assert res.exit_code != 0 and "valid centres: 61 .. 198" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, args + ["--param", "bin=0", "--at", "130", "-o", str(tmp_path / "c.png")])
    assert res.exit_code != 0 and "Error: ssml-lite: bin must be 'auto' or an integer" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "c.png").exists()
