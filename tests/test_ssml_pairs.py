"""Training pairs (``--pair DAT:GT_PNG:INDEX``): real spike streams whose ground truth at one spike
frame enters the supervised loss (src/ssml/data.py PairedWindows, src/ssml/config.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ssml.config import TrainConfig
from ssml.data import PairedWindows, TrainData


def write_pair(folder, frames=50, height=12, width=14, seed=0):
    """A random stream and a random GT image; returns (dat, png, spikes uint8 (T, H, W), gt float (H, W))."""
    import imageio.v3 as iio

    from spikekit.io import write_dat

    rng = np.random.default_rng(seed)
    spikes = (rng.random((frames, height, width)) < 0.4).astype(np.uint8)
    gt8 = rng.integers(0, 256, (height, width), dtype=np.uint8)
    dat = write_dat(folder / f"pair{seed}.dat", torch.from_numpy(spikes))
    png = folder / f"pair{seed}.png"
    iio.imwrite(png, gt8)
    return dat, png, spikes, gt8.astype(np.float32) / 255


def d4(x: np.ndarray, k: int) -> np.ndarray:
    """Transform k of ssml.data.d4_maps on the last two axes: rotate k % 4 times, after a
    left-right flip when k >= 4."""
    return np.rot90(x[..., ::-1] if k >= 4 else x, k % 4, axes=(-2, -1))


def window(spikes: np.ndarray, index: int) -> np.ndarray:
    """Frames index-20 .. index+20, a frame before the first read at the mirrored position
    (-j reads j) and one after the last likewise."""
    last = len(spikes) - 1
    return np.stack([spikes[abs(t) if t < 0 else (2 * last - t if t > last else t)]
                     for t in range(index - 20, index + 21)])


def find_crop(win: np.ndarray, gt: np.ndarray, got_spikes: np.ndarray, got_gt: np.ndarray, crop: int):
    """Every (top, left, k) whose transformed crop of ``win`` and ``gt`` equals the sample."""
    h, w = gt.shape
    return [(y, x, k) for y in range(h - crop + 1) for x in range(w - crop + 1) for k in range(8)
            if np.array_equal(d4(win[:, y:y + crop, x:x + crop], k), got_spikes)
            and np.array_equal(d4(gt[y:y + crop, x:x + crop], k), got_gt)]


@pytest.mark.parametrize("index", [25, 3, 46])  # inside; mirrored at the start; mirrored at the end
def test_pair_crops_are_crops_of_the_window_and_its_gt_alike(tmp_path, index):
    dat, png, spikes, gt = write_pair(tmp_path)
    pairs = PairedWindows([f"{dat}:{png}:{index}"], crop=6)
    gen = torch.Generator().manual_seed(1)
    got_spikes, got_gt = pairs.sample(40, gen)
    assert got_spikes.dtype == torch.float32 and got_spikes.shape == (40, 41, 6, 6)
    assert got_gt.dtype == torch.float32 and got_gt.shape == (40, 1, 6, 6)
    win, seen = window(spikes, index), set()
    for s, g in zip(got_spikes.numpy(), got_gt[:, 0].numpy()):
        found = find_crop(win, gt, s.astype(np.uint8), g, 6)
        assert found, "a sample is not a transformed crop of the pair's window and GT"
        seen.update(k for _, _, k in found)
    assert len(seen) == 8  # every flip/rotation occurs


def test_pairs_are_drawn_from_every_stream_with_their_own_gt(tmp_path):
    a, b = write_pair(tmp_path, seed=0), write_pair(tmp_path, seed=1, height=10, width=16)
    pairs = PairedWindows([f"{a[0]}:{a[1]}:20", f"{b[0]}:{b[1]}:30"], crop=8)
    got_spikes, got_gt = pairs.sample(30, torch.Generator().manual_seed(0))
    hits = [0, 0]
    for s, g in zip(got_spikes.numpy().astype(np.uint8), got_gt[:, 0].numpy()):
        match = [bool(find_crop(window(p[2], i), p[3], s, g, 8)) for p, i in ((a, 20), (b, 30))]
        assert sum(match) == 1
        hits[match.index(True)] += 1
    assert min(hits) > 0


def test_batches_put_pair_crops_after_the_simulated_samples(tmp_path):
    dat, png, spikes, gt = write_pair(tmp_path, height=20, width=20)
    cfg = TrainConfig(out=str(tmp_path / "run"), batch=4, crop=16, pairs=[f"{dat}:{png}:25"], pair_fraction=0.5,
                      objective="supervised", images=["camera"], image_size=64, val_sim=0).validate()
    assert (cfg.pair_count, cfg.sim_count) == (2, 2)
    batch = TrainData(cfg).next()
    assert batch["spikes"].shape == (4, 41, 16, 16) and batch["gt"].shape == (4, 1, 16, 16)
    win = window(spikes, 25)
    for i in (2, 3):
        assert find_crop(win, gt, batch["spikes"][i].numpy().astype(np.uint8), batch["gt"][i, 0].numpy(), 16)
    with_dat = TrainConfig(batch=8, pairs=["x:y:1"], pair_fraction=0.25, dat=["d.dat"], sim_fraction=0.5)
    assert (with_dat.pair_count, with_dat.sim_count) == (2, 3)
    assert (TrainConfig(batch=8, sim_fraction=0.5, dat=["d.dat"]).pair_count, TrainConfig(batch=8).sim_count) == (0, 8)


@pytest.mark.parametrize("kw, message", [
    (dict(pairs=["a/reds301/spike/200_part1_key_id151.dat:b.png:150"]), "no validation or test stream"),
    (dict(pairs=["a.dat:a/reds41/gt/000_part1_key_id7.png:6"]), "no validation or test stream"),
    (dict(dat=["x/000_part1_key_id21.dat"], objective="self"), "no validation or test stream"),
    (dict(pairs=["mine.dat:mine.png:3"], val=["mine.dat:other.png:9"]), "no validation or test stream"),
    (dict(pairs=["a.dat:b.png:3"], objective="self"), "objective 'supervised' or 'hybrid'"),
    (dict(pairs=["a.dat:b.png:3"], pair_fraction=1.5), "pair_fraction"),
    (dict(pairs=["a.dat:b.png:3"], batch=2, pair_fraction=0.2), "at least one pair crop in a batch of 2"),
])
def test_config_refuses_held_out_streams_and_useless_pairs(kw, message):
    kw.setdefault("objective", "supervised")
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw).validate()


def test_cli_trains_on_pairs_and_reports_bad_ones_in_one_line(tmp_path):
    from spikekit.cli import main

    dat, png, _, _ = write_pair(tmp_path, height=20, width=20)
    common = ["train", "--crop", "16", "--batch", "2", "--val-every", "0", "--threads", "1", "--steps", "2",
              "--set", "model=lite", "--set", "objective=supervised", "--set", "images=[camera]",
              "--set", "image_size=64", "--set", "val_sim=0"]
    res = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "r"), "--pair", f"{dat}:{png}:25",
                                    "--pair-fraction", "0.5"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert TrainConfig.load(tmp_path / "r" / "config.yaml").pairs == [f"{dat}:{png}:25"]
    for pair, message in ((f"{dat}:{png}:99", "index 99 is not a spike frame"),
                          (f"{dat}:{tmp_path / 'none.png'}:25", "file not found")):
        res = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "bad"), "--pair", pair, "--batch", "4"])
        assert res.exit_code != 0 and "training pair" in res.output and message in res.output, res.output
        assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()  # refused before the run folder is made
    res = CliRunner().invoke(main, [*common, "-o", str(tmp_path / "bad"), "--pair-fraction", "0.5"])
    assert res.exit_code == 2 and "--pair-fraction" in res.output and "no --pair entries" in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "bad").exists()


def test_a_folder_of_reconstructions_is_one_pair_per_frame(tmp_path):
    """``DAT:DIR``: each frame_<N>.png that ``spikekit recon -o DIR/`` wrote is the GT of spike frame N."""
    from spikekit.cli import main
    from spikekit.metrics import load_gt

    dat, _, spikes, _ = write_pair(tmp_path, height=12, width=14)
    folder = tmp_path / "teacher"
    res = CliRunner().invoke(main, ["recon", str(dat), "-H", "12", "-W", "14", "-m", "tfp", "-w", "7", "--pad",
                                    "reflect", "--at", "2", "--at", "30", "-o", f"{folder}/"])
    assert res.exit_code == 0, res.output
    (folder / "notes.txt").write_text("not an image")
    pairs = PairedWindows([f"{dat}:{folder}"], crop=6)
    assert len(pairs) == 2
    labels = {i: load_gt(folder / f"frame_{i:06d}.png") for i in (2, 30)}
    hits = {2: 0, 30: 0}
    for s, g in zip(*(x.numpy() for x in pairs.sample(30, torch.Generator().manual_seed(0)))):
        match = [i for i in (2, 30) if find_crop(window(spikes, i), labels[i], s.astype(np.uint8), g[0], 6)]
        assert len(match) == 1
        hits[match[0]] += 1
    assert min(hits.values()) > 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no frame_<N>.png"):
        PairedWindows([f"{dat}:{tmp_path / 'empty'}"], crop=6)
    with pytest.raises(ValueError, match="is not a folder; expected DAT:GT_PNG:INDEX, or DAT:DIR"):
        PairedWindows([f"{dat}:{tmp_path / 'missing'}"], crop=6)
    with pytest.raises(ValueError, match="no ':'; expected DAT:GT_PNG:INDEX, or DAT:DIR"):
        PairedWindows([str(dat)], crop=6)


def test_pair_paths_are_stored_absolute(tmp_path, monkeypatch):
    from ssml.config import absolute_paths as _absolute_paths

    monkeypatch.chdir(tmp_path)
    got = _absolute_paths({"pairs": ["s.dat:g.png:4", "s.dat:teacher", "bad"]})["pairs"]
    assert got == [f"{tmp_path}/s.dat:{tmp_path}/g.png:4", f"{tmp_path}/s.dat:{tmp_path}/teacher", "bad"]
