"""spikekit simulate on files: sources, luminance, GT alignment, sidecar, CLI, bad input, real videos."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from spikekit.io import SpikeStream, read_dat, read_sidecar
from spikekit.simulate import NoiseModel, simulate, simulate_to_file
from spikekit.simulate.source import natural_key, open_source, to_luminance


def run_cli(*args):
    return CliRunner().invoke(main, ["simulate", *map(str, args)])


def tfp(stream, centre: int, window: int = 41, scale: float = 1 / 0.6) -> np.ndarray:
    half = window // 2
    return np.clip(stream[centre - half:centre - half + window].numpy().mean(axis=0) * scale, 0, 1)


# --- inputs ----------------------------------------------------------------------------------

def test_uint8_and_float_over_255_give_identical_spikes():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (3, 6, 7), dtype=np.uint8)
    a = simulate(gray, steps_per_frame=50, seed=1)
    assert torch.equal(a, simulate(gray / 255.0, steps_per_frame=50, seed=1))
    assert torch.equal(a, simulate((gray / 255.0).astype(np.float32), steps_per_frame=50, seed=1))
    colour = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    assert torch.equal(simulate(colour, steps_per_frame=20), simulate(colour / 255.0, steps_per_frame=20))
    assert torch.equal(simulate(colour, steps_per_frame=20), simulate(torch.from_numpy(colour), steps_per_frame=20))
    assert torch.equal(simulate(colour, steps_per_frame=20),
                       simulate(colour[..., ::-1].copy(), steps_per_frame=20, channels="bgr"))
    wide = (gray.astype(np.uint16) * 257)  # x * 257 / 65535 == x / 255
    assert torch.equal(simulate(wide, steps_per_frame=50, seed=1), a)


def test_uint8_and_float_colour_give_identical_luminance_at_full_size():
    """A 480 x 1280 colour frame (614,400 pixels) plus every value of each channel: uint8 x,
    float32 x / 255 (divided in float32 or rounded from float64) and float64 x / 255 agree."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (480, 1280, 3), dtype=np.uint8)
    for c in range(3):
        frame[c, :256, c] = np.arange(256)  # each channel through all 256 values
    want = to_luminance(frame)
    for other in (frame.astype(np.float32) / np.float32(255), (frame / 255.0).astype(np.float32), frame / 255.0):
        assert np.array_equal(to_luminance(other), want)
    a = simulate(frame[None], steps_per_frame=8, seed=2)
    assert torch.equal(a, simulate((frame[None] / 255.0).astype(np.float32), steps_per_frame=8, seed=2))


def test_bt601_luminance():
    pixel = np.array([[[200, 100, 50]]], np.uint8)
    want = np.float32((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255)
    assert to_luminance(pixel)[0, 0] == pytest.approx(want, abs=1e-7)
    assert to_luminance(pixel[..., ::-1], channels="bgr")[0, 0] == to_luminance(pixel)[0, 0]


def test_float_input_outside_unit_range_is_an_error():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        simulate(np.full((2, 3, 3), 1.2, np.float32), steps_per_frame=2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        simulate(np.full((2, 3, 3), np.nan, np.float32), steps_per_frame=2)
    with pytest.raises(ValueError, match="shape"):
        simulate(np.zeros((3, 3), np.float32), steps_per_frame=2)
    with pytest.raises(ValueError, match="fps"):
        simulate(np.zeros((2, 3, 3), np.float32))


def test_folder_is_read_in_natural_order(tmp_path):
    for i in (10, 2, 1):
        iio.imwrite(tmp_path / f"img{i}.png", np.full((4, 5), i * 20, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert sorted(["img10.png", "img2.png", "img1.png"], key=natural_key) == ["img1.png", "img2.png", "img10.png"]
    frames = [f[0, 0].item() for f in open_source(tmp_path).frames()]
    assert frames == pytest.approx([20 / 255, 40 / 255, 200 / 255])
    spikes = simulate(tmp_path, steps_per_frame=3, noise="off")
    assert spikes.shape == (9, 4, 5)


def test_video_file_frame_count_and_fps(shared_data):
    source = open_source(shared_data / "video" / "carphone_pristine.mp4")
    assert source.fps == pytest.approx(29.97)
    frames = list(source.frames())
    assert len(frames) == 120 and frames[0].shape == (144, 176) and frames[0].dtype == torch.float32


def test_resize_and_crop_to_sensor_size():
    video = np.zeros((1, 20, 40), np.float32)
    video[:, :, :5] = 1.0  # left eighth bright: outside the centre crop
    spikes = simulate(video, steps_per_frame=10, size="10x10", noise="off", gain=1.0)
    assert spikes.shape == (10, 10, 10)
    rate = spikes.float().mean(0)
    assert float(rate.max()) == 0  # the crop keeps the centre 20x20 of the 20x40 frame (scaled by 0.5)
    video[:, :, 15:25] = 1.0  # the middle quarter: the middle of the crop
    rate = simulate(video, steps_per_frame=10, size=(10, 10), noise="off", gain=1.0).float().mean(0)
    assert float(rate[:, 3:7].min()) == 1.0 and float(rate[:, 0].max()) == 0


# --- files, sidecar, ground truth ---------------------------------------------------------------

def test_orientation_top_left_bar_survives_dat_round_trip(tmp_path):
    video = np.zeros((2, 24, 32), np.uint8)
    video[:, 2:6, 1:12] = 255  # a bright bar in the top-left
    path = tmp_path / "bar.dat"
    simulate_to_file(video, path, steps_per_frame=40, noise="off")
    image = tfp(read_dat(path), 20, 41)
    assert image[2:6, 1:12].min() > 0.95 and image[8:, :].max() == 0 and image[:, 14:].max() == 0
    assert read_sidecar(path)["height"] == 24


def test_a_flash_in_one_video_frame_spreads_over_both_neighbours_unless_held():
    """Issue 33, documented in docs/simulator.md (Timing): video frame k is the intensity AT
    spike frame k S, interpolated linearly, so a flash in frame k alone also lights spike frames
    (k-1) S + 1 .. k S - 1, before the frame; (S - 1) / 2 S of its light (45 % at S = 10) falls
    there. Held frames (each repeated S times, Simulator.step) keep it in [k S, (k + 1) S)."""
    from spikekit.simulate import Simulator

    steps, k = 10, 2
    video = np.zeros((5, 4, 4), np.float32)
    video[k] = 1.0
    spikes = simulate(video, steps_per_frame=steps, noise="off")[:, 0, 0].numpy()
    light = np.concatenate([np.arange(steps) / steps, 1 - np.arange(steps) / steps])  # I_n, n in (k-1)S .. (k+1)S - 1
    before = np.floor(0.6 * light[:steps].sum() + 1e-6)  # gain 0.6, threshold 1, accumulator from 0
    assert spikes[:(k - 1) * steps].sum() == 0 and spikes[(k + 1) * steps:].sum() == 0
    assert spikes[(k - 1) * steps:k * steps].sum() == before == 2  # spikes before the flash's frame
    assert spikes.sum() == np.floor(0.6 * light.sum() + 1e-6) == 6
    held = Simulator(4, 4, noise="off").step(torch.from_numpy(video).repeat_interleave(steps, dim=0))[:, 0, 0]
    assert held[k * steps:(k + 1) * steps].sum() == held.sum() == 6  # all in the flash's own S spike frames


def test_sidecar_and_json_summary(tmp_path):
    video = np.random.default_rng(1).random((3, 5, 8)).astype(np.float32)
    path = tmp_path / "clip.dat"
    summary = simulate_to_file(video, path, rate=20000, steps_per_frame=7, seed=9, gain=0.5,
                               noise=NoiseModel(dark_rate=3.0))
    meta = read_sidecar(path)
    assert meta["frame_index"] == [0, 7, 14] and meta["frames"] == 21 and meta["steps_per_frame"] == 7
    assert (meta["height"], meta["width"], meta["rate"], meta["seed"], meta["gain"]) == (5, 8, 20000.0, 9, 0.5)
    assert meta["noise"]["dark_rate"] == 3.0 and meta["source"] == "array"
    assert meta["spikekit_version"] == spikekit.__version__ and meta["fps"] == pytest.approx(20000 / 7)
    stream = read_dat(path)
    assert summary["frames"] == 21 and summary["spikes"] == int(stream.sum())
    assert summary["mean_firing_rate"] == pytest.approx(float(stream.float().mean()))
    assert path.stat().st_size == 21 * 5


def test_gt_images_are_exactly_what_the_pixels_integrate(tmp_path):
    rng = np.random.default_rng(2)
    video = rng.random((3, 6, 9)).astype(np.float32)
    path, gt = tmp_path / "s.dat", tmp_path / "gt"
    summary = simulate_to_file(video, path, steps_per_frame=10, gt_dir=gt, gt_every=4, gt_format="both", chunk=3)
    names = sorted(p.name for p in gt.iterdir())
    assert names[:4] == ["00000000.npy", "00000000.png", "00000004.npy", "00000004.png"]
    assert summary["gt_images"] == 8 and len(names) == 16  # n = 0, 4, ..., 28
    for n in range(0, 30, 4):
        k, j = divmod(n, 10)
        f0 = torch.from_numpy(video[k])
        f1 = torch.from_numpy(video[min(k + 1, 2)])
        alpha = torch.tensor(j / 10, dtype=torch.float64).float()
        want = (f0 + alpha * (f1 - f0)).numpy()
        np.testing.assert_array_equal(np.load(gt / f"{n:08d}.npy"), want)
        np.testing.assert_array_equal(iio.imread(gt / f"{n:08d}.png"), np.round(want * 255).astype(np.uint8))
    assert read_sidecar(path)["gt_every"] == 4


def test_cli_writes_stream_and_json(tmp_path, shared_data):
    out = tmp_path / "car.dat"
    result = run_cli(shared_data / "video" / "carphone_pristine.mp4", "-o", out, "--steps-per-frame", "2",
                     "--size", "64x80", "--json", "--seed", "3")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["frames"] == 240 and summary["video_frames"] == 120 and (summary["height"], summary["width"]) == (64, 80)
    assert 0.05 < summary["mean_firing_rate"] < 0.6 and summary["seconds"] > 0
    with SpikeStream(out) as stream:
        assert len(stream) == 240 and stream.height == 64


def test_cli_npy_input_and_noise_options(tmp_path):
    video = np.random.default_rng(3).random((2, 4, 6)).astype(np.float32)
    np.save(tmp_path / "v.npy", video)
    out = tmp_path / "v.dat"
    result = run_cli(tmp_path / "v.npy", "-o", out, "--steps-per-frame", "5", "--dark-rate", "0", "--no-shot",
                     "--threshold-sigma", "0", "--no-random-init", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "10 spike frames" in result.output
    assert torch.equal(read_dat(out), simulate(video, steps_per_frame=5, noise="off"))


# --- bad input: a clear error and no output -------------------------------------------------------

@pytest.mark.parametrize("case, args, message", [
    ("missing", ["nope.mp4"], "not found"),
    ("garbage", ["garbage.mp4"], "cannot read as a video"),
    ("empty", ["empty_dir"], "holds no images"),
    ("threshold0", ["v.npy", "--threshold", "0"], "threshold must be > 0"),
    ("threshold-", ["v.npy", "--threshold", "-2"], "threshold must be > 0"),
    ("rate0", ["v.npy", "--rate", "0"], "rate must be > 0"),
    ("rate-", ["v.npy", "--rate", "-5"], "rate must be > 0"),
    ("steps0", ["v.npy", "--steps-per-frame", "0"], "steps_per_frame must be"),
    ("nofps", ["v.npy"], "fps"),
    ("size", ["v.npy", "--steps-per-frame", "2", "--size", "big"], "HEIGHTxWIDTH"),
    ("device", ["v.npy", "--steps-per-frame", "2", "--device", "gpu"], "device must be"),
])
def test_bad_input_is_a_clear_error_with_no_output(tmp_path, case, args, message):
    (tmp_path / "garbage.mp4").write_bytes(b"\x00not a video" * 100)
    (tmp_path / "empty_dir").mkdir()
    np.save(tmp_path / "v.npy", np.zeros((2, 3, 3), np.float32))
    out = tmp_path / "out.dat"
    result = CliRunner().invoke(main, ["simulate", *[str(tmp_path / a) if i == 0 else a for i, a in enumerate(args)],
                                       "-o", str(out), "--gt-dir", str(tmp_path / "gt")])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "out.dat.json").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("garbage.mp4", "empty_dir", "v.npy")]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("content", [b"hello, I am notes\n", b"\x00not a video" * 100])
def test_a_file_ffmpeg_cannot_read_is_one_line_without_its_banner(tmp_path, content):
    for name in ("notes.txt", "fake.mp4"):
        (tmp_path / name).write_bytes(content)
        result = run_cli(tmp_path / name, "-o", tmp_path / "o.dat")
        assert result.exit_code == 1 and "cannot read as a video" in result.output
        assert "simulate takes a video file, a folder of images" in result.output
        assert "ffmpeg version" not in result.output and len(result.output.strip().splitlines()) == 1


def _video(path, frames: int = 50, keep: float = 1.0):
    """An H.264 clip of ``frames`` 32 x 32 frames at 25 fps with its index first (faststart);
    ``keep`` < 1 cuts the file's tail, so its header claims more frames than it holds."""
    import imageio.v2 as iio2

    writer = iio2.get_writer(path, format="FFMPEG", fps=25, codec="libx264", macro_block_size=1,
                             output_params=["-movflags", "+faststart", "-g", "1"])
    for i in range(frames):
        writer.append_data(np.full((32, 32), 5 * i, np.uint8))
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


def test_a_video_holding_fewer_frames_than_its_header_claims_warns_with_both_counts(tmp_path):
    whole = run_cli(_video(tmp_path / "whole.mp4"), "-o", tmp_path / "w.dat", "--steps-per-frame", "2", "-q")
    assert whole.exit_code == 0 and "warning" not in whole.output, whole.output
    cut = run_cli(_video(tmp_path / "cut.mp4", keep=0.7), "-o", tmp_path / "c.dat", "--steps-per-frame", "2",
                  "-q", "--json")
    assert cut.exit_code == 0, cut.output
    decoded = json.loads(cut.stdout.splitlines()[-1])["video_frames"]
    assert 0 < decoded < 50
    assert f"warning: {tmp_path / 'cut.mp4'}: the video header claims 50 frames but only {decoded}" in cut.output


def test_planned_size_is_the_size_written(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        iio.imwrite(folder / f"{i}.png", np.full((10, 13), 40 * i, np.uint8))
    sources = {"array": np.zeros((4, 10, 13), np.uint8), "folder": folder, "video": _video(tmp_path / "v.mp4")}
    for name, source in sources.items():
        planned = []
        out = tmp_path / f"{name}.dat"
        simulate_to_file(source, out, steps_per_frame=3, on_start=planned.append)
        assert planned[0]["bytes"] == out.stat().st_size, name
        assert planned[0]["frames"] == len(SpikeStream(out)), name


def test_simulate_prints_the_size_and_asks_above_the_threshold_on_a_terminal(tmp_path, monkeypatch):
    import importlib

    sim_cli = importlib.import_module("spikekit.simulate.cli")  # spikekit.simulate is also a function

    np.save(tmp_path / "v.npy", np.zeros((2, 8, 8), np.uint8))
    args = [tmp_path / "v.npy", "-o", tmp_path / "o.dat", "--steps-per-frame", "4"]
    result = run_cli(*args)  # 8 spike frames of 8 bytes, below any threshold: no question
    assert result.exit_code == 0 and "simulate: about 8 spike frames of 8 x 8, 64 B" in result.output
    monkeypatch.setattr(sim_cli, "CONFIRM_BYTES", 10)
    (tmp_path / "o.dat").unlink()
    assert run_cli(*args).exit_code == 0  # not a terminal: scripts are never stopped by a question
    (tmp_path / "o.dat").unlink()
    monkeypatch.setattr(sim_cli, "_interactive", lambda: True)
    result = CliRunner().invoke(main, ["simulate", *map(str, args)], input="n\n")
    assert result.exit_code == 1 and "write 64 B to" in result.output and "--yes" in result.output
    assert not (tmp_path / "o.dat").exists()
    result = run_cli(*args, "--yes")
    assert result.exit_code == 0 and "write 64 B" not in result.output and (tmp_path / "o.dat").exists()


def test_failure_midway_leaves_no_partial_files(tmp_path):
    frames = [np.full((4, 4), 0.5, np.float32), np.full((4, 4), 0.5, np.float32), np.full((4, 4), 2.0, np.float32)]
    for i, f in enumerate(frames):
        np.save(tmp_path / f"f{i}.npy", f)
    out, gt = tmp_path / "o.dat", tmp_path / "gt"
    with pytest.raises(ValueError, match=r"f2.npy.*\[0, 1\]"):
        simulate_to_file(tmp_path, out, steps_per_frame=4, gt_dir=gt, chunk=2)
    assert not out.exists() and not gt.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.npy", "f1.npy", "f2.npy"]


# --- real videos -------------------------------------------------------------------------------

def _psnr_against_gt(shared_data, tmp_path, name):
    from skimage.metrics import peak_signal_noise_ratio

    path, gt = tmp_path / f"{name}.dat", tmp_path / f"gt_{name}"
    simulate_to_file(shared_data / "video" / f"{name}.mp4", path, noise="off", steps_per_frame=100, gt_dir=gt)
    scores = []
    with SpikeStream(path) as stream:
        for image in sorted(gt.glob("*.png")):
            n = int(image.stem)
            if n - 20 < 0 or n + 21 > len(stream):
                continue
            truth = iio.imread(image) / 255.0
            scores.append(peak_signal_noise_ratio(truth, tfp(stream, n), data_range=1.0))
    return float(np.mean(scores)), len(scores)


def test_carphone_tfp_psnr_against_exported_gt(shared_data, tmp_path):
    psnr, count = _psnr_against_gt(shared_data, tmp_path, "carphone_pristine")
    print(f"carphone_pristine: mean PSNR {psnr:.2f} dB over {count} GT frames")
    assert count == 119 and psnr >= 32.0


@pytest.mark.slow
def test_bikes_tfp_psnr_against_exported_gt(shared_data, tmp_path):
    psnr, count = _psnr_against_gt(shared_data, tmp_path, "bikes")
    print(f"bikes: mean PSNR {psnr:.2f} dB over {count} GT frames")
    assert count == 249 and psnr >= 32.0


def test_noisy_simulation_of_a_real_video_is_reproducible(shared_data, tmp_path):
    video = shared_data / "video" / "carphone_pristine.mp4"
    a = simulate(video, steps_per_frame=3, packed=True, seed=5)
    b = simulate(video, steps_per_frame=3, packed=True, seed=5)
    assert a.shape == (360, (144 * 176 + 7) // 8) and torch.equal(a, b)
