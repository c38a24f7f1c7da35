"""`spikekit recon`, `spikekit eval`, `spikekit view`, and the TFP reference figures of docs/methods.md."""
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
    lines = result.stdout.strip().splitlines()  # progress lines go to stderr
    assert lines[0].split()[:5] == ["method", "window", "at", "PSNR", "dB"]
    assert len(lines) == 1 + 3 * 2
    assert lines[3].split()[:3] == ["tfi", "-", "6"]


def test_eval_takes_a_folder_of_gt_frames_as_simulate_writes_it(tmp_path):
    """Issue 29: eval had no way to take `simulate --gt-dir` output, and no progress."""
    from spikekit.metrics import load_gt, psnr
    from spikekit.recon import get_method, reconstruct

    video = np.random.default_rng(0).random((4, 24, 32)).astype(np.float32) * 0.8 + 0.1
    np.save(tmp_path / "v.npy", video)
    dat, gt = tmp_path / "v.dat", tmp_path / "gt"
    made = run("simulate", tmp_path / "v.npy", "-o", dat, "--steps-per-frame", 40, "--gt-dir", gt,
               "--gt-every", 40, "--gt-format", "both", "-q")
    assert made.exit_code == 0, made.output
    result = run("eval", dat, "--gt-dir", gt, "--pad", "reflect", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    frames = sorted(int(p.stem) for p in gt.glob("*.npy"))
    assert [r["at"] for r in rows] == frames and all(r["gt"].endswith(".npy") for r in rows)  # exact GT first
    want = reconstruct(get_method("tfp"), spikekit.read_dat(dat), at=frames[1], pad="reflect")
    assert rows[1]["psnr"] == pytest.approx(psnr(want.numpy(), load_gt(gt / f"{frames[1]:08d}.npy")), abs=1e-6)
    one = json.loads(run("eval", dat, "--gt-dir", gt, "--at", frames[2], "--pad", "reflect", "--json").stdout)
    assert [r["at"] for r in one] == [frames[2]] and one[0]["psnr"] == pytest.approx(rows[2]["psnr"])
    result = run("eval", dat, "--gt-dir", gt, "--at", 7)
    assert result.exit_code == 1 and "no ground truth for spike frame 7" in result.output
    result = run("eval", dat, "--gt-dir", tmp_path)
    assert result.exit_code == 1 and "no ground-truth frames in it" in result.output
    result = run("eval", dat, "--gt-dir", gt, "--pad", "reflect")  # progress off a terminal, then the table
    assert result.exit_code == 0 and f"eval: 100% ({len(frames)}/{len(frames)} images)" in result.output


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
    result = run("recon", path, "-o", tmp_path / "no" / "x.npy")  # a missing folder is made (one rule)
    assert result.exit_code == 0 and (tmp_path / "no" / "x.npy").is_file(), result.output


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


def test_view_says_what_it_wrote_and_where_it_stopped(tmp_path, monkeypatch):
    import spikekit.recon.cli as recon_cli

    monkeypatch.setattr(recon_cli, "VIEW_FRAMES", 50)
    spikes = (torch.rand(120, 6, 8, generator=torch.Generator().manual_seed(1)) < 0.3).to(torch.uint8)
    path = spikekit.write_dat(tmp_path / "s.dat", spikes)
    result = run("view", path, "-o", tmp_path / "v.gif")
    assert result.exit_code == 0, result.output
    assert (f"wrote 50 frames (spike frames 0..49) to {tmp_path / 'v.gif'}; only the first 50 of the "
            "120-frame stream (--stop 120 shows all)") in result.output
    assert iio.imread(tmp_path / "v.gif").shape[0] == 50
    result = run("view", path, "--start", 100, "--every", 5, "-o", tmp_path / "w.gif")
    assert "wrote 4 frames (spike frames 100..119 every 5)" in result.output and "only the first" not in result.output
    assert run("view", path, "-o", tmp_path / "q.gif", "-q").output == ""


def test_progress_is_a_line_per_ten_percent_off_a_terminal(clip, tmp_path, capsys):
    from spikekit.progress import progress

    with progress(26, "job", "image") as bar:  # stderr is not a terminal under pytest
        for _ in range(26):
            bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "job: 11% (3/26 images)" and lines[-1] == "job: 100% (26/26 images)" and len(lines) == 10
    with progress(26, "job", quiet=True) as bar:
        bar.update(26)
        bar.write("hidden")
    assert capsys.readouterr().err == ""
    path, _ = clip
    result = run("recon", path, "--stride", 10, "-o", tmp_path / "v.npy")  # TFP: one batch of 26 images
    assert "recon: 100% (26/26 images)" in result.output and "\r" not in result.output
    assert "recon:" not in run("recon", path, "--stride", 10, "-o", tmp_path / "q.npy", "-q").output


def test_a_slow_job_prints_a_line_within_a_minute_with_the_time_left(capsys):
    """Issue 29: adapt printed nothing for 11 minutes off a terminal (10 % of 200 slow steps).
    A line also comes LINE_SECONDS after the last one, with the time left at the rate so far."""
    from spikekit.progress import LINE_SECONDS, _Lines

    now = [0.0]
    bar = _Lines(200, "train", "step", clock=lambda: now[0])
    for _ in range(3):
        now[0] += 3.7  # a step takes 3.7 s: 10 % takes 74 s
        bar.update(1)
    assert capsys.readouterr().err == ""
    for _ in range(6):
        now[0] += 3.7
        bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert 9 * 3.7 >= LINE_SECONDS and len(lines) == 1
    left = 3.7 * (200 - 9) / 60  # minutes
    assert lines[0] == f"train: 4% (9/200 steps), about {left:.0f} min left", lines


def test_videos_and_images_given_as_dat_point_to_simulate(tmp_path):
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(20000))
    result = run("recon", mp4, "--at", 20, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "an MP4/MOV video, not a headerless .dat" in result.output
    assert "`spikekit simulate`" in result.output and "convert" not in result.output
    npz = tmp_path / "spk.npz"
    np.savez(npz, spk=np.zeros((3, 4, 4), np.uint8))
    result = run("recon", npz, "--at", 20, "-o", tmp_path / "x.png")
    assert result.exit_code == 1 and "`spikekit convert`" in result.output


def test_a_text_file_is_refused_not_read_as_a_stream(tmp_path):
    """Issue 29: a CSV file was read as a 4-frame stream."""
    csv = tmp_path / "log.csv"
    csv.write_text("step,wall_s,tag,value\n" + "".join(f"{k},{k * 0.5},loss/total,0.0{k}\n" for k in range(1800)))
    for command in (("info", csv), ("recon", csv, "--at", 1, "-o", tmp_path / "x.png")):
        result = run(*command)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"{csv}: this is a text file" in result.output and len(result.output.strip().splitlines()) == 1
    # a stream whose every byte is a printable character in some frames is still a stream
    from spikekit.io import SpikeStream, write_dat

    # and so is a uniform pattern whose every byte is printable ('?': a 2 x 3 sensor always firing)
    assert run("info", write_dat(tmp_path / "uniform.dat", torch.ones(100, 2, 3, dtype=torch.uint8))).exit_code == 0

    spikes = torch.zeros(100, 16, 16, dtype=torch.uint8)
    spikes[::2, :, 0] = 1  # byte 0x01 in every other frame: not text
    with SpikeStream(write_dat(tmp_path / "s.dat", spikes)) as stream:
        assert len(stream) == 100


def test_convert_refuses_an_output_that_is_not_dat(tmp_path):
    np.savez(tmp_path / "uhsr.npz", spk=np.ones((2, 4, 8), np.uint8))
    result = run("convert", tmp_path / "uhsr.npz", tmp_path / "u.npy")
    assert result.exit_code == 2 and "convert writes bit-packed .dat spike streams" in result.output
    assert "u.dat" in result.output and not (tmp_path / "u.npy").exists()
    assert run("convert", tmp_path / "uhsr.npz", tmp_path / "u.dat").exit_code == 0
    assert torch.equal(spikekit.read_dat(tmp_path / "u.dat"), torch.ones(2, 4, 8, dtype=torch.uint8))


def test_eval_rejects_a_dat_as_ground_truth(shared_data):
    spike = shared_data / "reds41/spike/000_part1_key_id21.dat"
    result = run("eval", spike, "--gt", spike, "--at", 20)
    assert result.exit_code == 1 and "this is a .dat spike stream; ground truth must be an image" in result.output
    assert "pip install" not in result.output


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


def test_eval_gives_each_method_the_params_it_takes(shared_data, tmp_path):
    dat = shared_data / "reds41/spike/000_part1_key_id21.dat"
    gt = shared_data / "reds41/gt/000_part1_key_id21.png"
    # u0 is TFSTP's alone: the TFP row is the plain TFP-41 one, the TFSTP row changes with it.
    rows = {}
    for u0 in ("0.15", "0.3"):
        result = run("eval", dat, "--gt", gt, "--at", 20, "-m", "tfp", "-m", "tfstp", "--param", f"u0={u0}", "--json")
        assert result.exit_code == 0, result.output
        listed = json.loads(result.output)
        assert [r["params"] for r in listed] == [{}, {"u0": u0}]  # the JSON says what each row was given
        rows[u0] = {r["method"]: r["psnr"] for r in listed}
    plain = json.loads(run("eval", dat, "--gt", gt, "--at", 20, "-m", "tfp", "--json").output)[0]["psnr"]
    assert rows["0.15"]["tfp"] == rows["0.3"]["tfp"] == plain
    assert rows["0.15"]["tfstp"] != rows["0.3"]["tfstp"]
    table = run("eval", dat, "--gt", gt, "--at", 20, "-m", "tfp", "-m", "tfstp", "--param", "u0=0.3").output
    assert "\ntfstp u0=0.3 " in table and "\ntfp " in table
    npy = tmp_path / "gt.npy"  # the demo's kind of ground truth: a float array, read as it is
    np.save(npy, load_gt(gt))
    from_npy = json.loads(run("eval", dat, "--gt", npy, "--at", 20, "-m", "tfp", "--json").output)[0]["psnr"]
    assert from_npy == pytest.approx(plain, abs=1e-9)
    result = run("eval", dat, "--gt", gt, "--at", 20, "-m", "tfp", "-m", "tfi", "--param", "ends=off")
    assert result.exit_code == 1 and "--param ends: no -m takes it (tfp: none; tfi: none)" in result.output
