"""`spikekit recon`, `spikekit eval`, `spikekit view`, and the README's TFP reference figures."""
from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from spikekit.metrics import load_gt, psnr
from spikekit.recon import tfp

# ../shared/data/README.md: TFP PSNR (dB) against the GT, window centred on the GT index.
REFERENCE = [
    ("reds301/spike/200_part1_key_id151.dat", "reds301/gt/200_part1_key_id151.png", 150,
     {7: 20.14, 11: 23.97, 21: 29.10, 41: 31.60}),
    ("reds301/spike/203_part2_key_id151.dat", "reds301/gt/203_part2_key_id151.png", 150,
     {7: 20.09, 21: 25.79, 41: 23.50}),
    ("reds41/spike/000_part1_key_id21.dat", "reds41/gt/000_part1_key_id21.png", 20,
     {7: 21.48, 21: 29.32, 41: 31.24}),
]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


@pytest.mark.parametrize("spike, gt, at, figures", REFERENCE, ids=[r[0].split("/")[-1] for r in REFERENCE])
def test_eval_reproduces_reference_psnr(shared_data, spike, gt, at, figures):
    windows = [x for w in figures for x in ("-w", w)]
    result = run("eval", shared_data / spike, "--gt", shared_data / gt, "--at", at, "-m", "tfp", *windows, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["window"] for r in rows] == list(figures)
    for row in rows:
        assert set(row) >= {"method", "window", "at", "psnr", "ssim"}
        assert row["method"] == "tfp" and row["at"] == at
        assert round(row["psnr"], 2) == figures[row["window"]], row
        assert 0 < row["ssim"] < 1


def test_python_api_reproduces_reference_psnr(shared_data):
    for spike, gt, at, figures in REFERENCE:
        truth = load_gt(shared_data / gt)
        with spikekit.SpikeStream(shared_data / spike) as stream:
            for window, figure in figures.items():
                assert round(psnr(tfp(stream, window=window, at=at), truth), 2) == figure


def test_eval_table_several_pairs_and_methods(shared_data):
    d = shared_data / "reds41"
    result = run("eval", d / "spike/000_part1_key_id21.dat", "--gt", d / "gt/000_part1_key_id7.png", "--at", 6,
                 "--gt", d / "gt/000_part1_key_id35.png", "--at", 34, "-m", "tfp", "-w", 7, "-m", "tfi", "-m", "tfstp")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:5] == ["method", "window", "at", "PSNR", "dB"]
    assert len(lines) == 1 + 3 * 2
    assert lines[3].split()[:3] == ["tfi", "-", "6"]


def test_eval_errors(shared_data, tmp_path):
    d = shared_data / "reds41"
    spike, gt = d / "spike/000_part1_key_id21.dat", d / "gt/000_part1_key_id21.png"
    result = run("eval", spike, "--gt", gt, "--at", 20, "--at", 5)
    assert result.exit_code != 0 and "one --at per --gt" in result.output
    result = run("eval", spike, "--gt", gt, "--at", 30, "-w", 41)
    assert result.exit_code == 1 and "valid centres: 20 .. 20" in result.output
    small = tmp_path / "small.png"
    iio.imwrite(small, np.zeros((10, 10), np.uint8))
    result = run("eval", spike, "--gt", small, "--at", 20)
    assert result.exit_code == 1 and "10 x 10" in result.output
    result = run("eval", spike, "--gt", tmp_path / "missing.png", "--at", 20)
    assert result.exit_code == 1 and "not found" in result.output


@pytest.fixture()
def clip(tmp_path):
    spikes = (torch.rand(300, 10, 14, generator=torch.Generator().manual_seed(0)) < 0.4).to(torch.uint8)
    return spikekit.write_dat(tmp_path / "clip.dat", spikes), spikes


def test_recon_outputs(clip, tmp_path):
    path, spikes = clip
    out = tmp_path / "one.png"
    assert run("recon", path, "--at", 150, "-o", out, "-q").exit_code == 0
    np.testing.assert_array_equal(iio.imread(out), np.round(tfp(spikes, at=150).numpy() * 255).astype(np.uint8))

    npy = tmp_path / "stack.npy"
    result = run("recon", path, "-m", "tfi", "--stride", 20, "--start", 10, "--stop", 200, "-o", npy)
    assert result.exit_code == 0, result.output
    from spikekit.recon import tfi
    np.testing.assert_array_equal(np.load(npy), tfi(spikes, stride=20, start=10, stop=200).numpy())

    folder = tmp_path / "frames"
    assert run("recon", path, "-m", "tfstp", "--at", 5, "--at", 250, "-o", folder, "-q").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["frame_000005.png", "frame_000250.png"]

    video = tmp_path / "v.mp4"
    result = run("recon", path, "--stride", 10, "--scale", "auto", "--gamma", 2.2, "-o", video, "-q")
    assert result.exit_code == 0, result.output
    import imageio.v2 as iio2

    with iio2.get_reader(video, format="FFMPEG") as reader:
        assert reader.count_frames() == 26  # centres 20, 30, ..., 270 (valid: 20 .. 279)
        assert reader.get_data(0).shape[:2] == (10, 14)

    default = tmp_path / "default.npy"  # no --at/--stride for a stack: every 100th valid frame
    assert run("recon", path, "-o", default, "-q").exit_code == 0
    assert np.load(default).shape == (3, 10, 14)


def test_recon_errors(clip, tmp_path):
    path, _ = clip
    result = run("recon", path, "--at", 290, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "valid centres: 20 .. 279" in result.output
    assert not (tmp_path / "x.png").exists()
    result = run("recon", path, "--stride", 10, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "holds one image" in result.output
    result = run("recon", path, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 1 and "unsupported output type" in result.output
    result = run("recon", tmp_path / "missing.dat", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "not found" in result.output
    result = run("recon", path, "--scale", "bright", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "scale must be" in result.output
    result = run("recon", path, "-m", "tfstp", "--param", "tau=3", "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "unknown parameter" in result.output
    result = run("recon", path, "-o", tmp_path / "no" / "x.npy")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_view_writes_a_video(clip, tmp_path):
    path, spikes = clip
    gif = tmp_path / "v.gif"
    result = run("view", path, "--tfp", "-w", 21, "--every", 10, "--stop", 100, "-o", gif, "-q")
    assert result.exit_code == 0, result.output
    frames = iio.imread(gif)
    assert frames.shape[:3] == (10, 10, 2 * 14 + 4)
    first = frames[0] if frames.ndim == 3 else frames[0, ..., 0]
    np.testing.assert_array_equal(first[:, :14], spikes[0].numpy() * 255)
    result = run("view", path, "-o", tmp_path / "v.png")
    assert result.exit_code == 1 and ".mp4 or .gif" in result.output


@pytest.mark.parametrize("method,param", [("tfp", "foo=1"), ("tfi", "window=7")])
def test_unknown_param_is_an_error(shared_data, tmp_path, method, param):
    dat = shared_data / "reds301/spike/200_part1_key_id151.dat"
    result = CliRunner().invoke(main, ["recon", str(dat), "-m", method, "--at", "150", "--param", param,
                                       "-o", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "unknown parameter(s)" in result.output and "takes none" in result.output
    assert not (tmp_path / "x.png").exists()


def test_cuda_device_without_cuda_is_a_clear_error(shared_data, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    dat = shared_data / "reds301/spike/200_part1_key_id151.dat"
    result = CliRunner().invoke(main, ["recon", str(dat), "-m", "tfp", "--at", "150", "--device", "cuda",
                                       "-o", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "no CUDA device" in result.output and "Traceback" not in result.output
