"""SSML training: data sources, exact resume, checkpoints, logging, DDP (gloo), the train CLI.

Runs stay tiny (16 x 16 crops, batch 2, the real SSML model without NLA) so the file takes well
under a minute on 2 cores.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ssml.config import TrainConfig
from ssml.data import DatWindows, SceneSimulator, TrainData, d4_maps, reflect_at_end
from ssml.train import Trainer, cosine_factor, train

REPO = Path(__file__).resolve().parents[1]
SPIKE = "reds301/spike/{}_key_id151.dat"


def tiny(tmp_path, shared=None, **kw) -> TrainConfig:
    """A seconds-long run: 16 x 16 crops, batch 2 (one simulated, one from a .dat when given)."""
    base = dict(out=str(tmp_path / "run"), steps=4, batch=2, crop=16, nla=False, images=["camera", "coins"],
                image_size=96, val_sim=0, val_every=0, log_every=1, ckpt_every=0, ckpt_minutes=0, threads=1,
                dat=[str(shared / SPIKE.format("203_part2"))] if shared else [])
    base.update(kw)
    return TrainConfig(**base)


def params_of(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# --- data ----------------------------------------------------------------------------------------

def test_d4_maps_are_the_eight_flips_and_rotations():
    crop = 5
    img = torch.arange(crop * crop).view(crop, crop)
    rows, cols = d4_maps(crop)
    want = [torch.rot90(img, k) for k in range(4)] + [torch.rot90(img.fliplr(), k) for k in range(4)]
    for k in range(8):
        assert torch.equal(img[rows[k], cols[k]], want[k])
    assert len({tuple(img[rows[k], cols[k]].flatten().tolist()) for k in range(8)}) == 8


def test_dat_windows_match_the_stream_on_both_paths(shared_data):
    from spikekit.io import SpikeStream

    paths = [shared_data / SPIKE.format("203_part2"), shared_data / SPIKE.format("203_part3")]
    cached = DatWindows(paths, 24)
    on_disk = DatWindows(paths, 24, cache_mb=0)
    gen = torch.Generator().manual_seed(3)
    f, t0, y0, x0, k = cached.draw(6, gen)
    got = cached.windows(f, t0, y0, x0, k)
    assert got.dtype == torch.float32 and got.shape == (6, 41, 24, 24)
    assert torch.equal(got, on_disk.windows(f, t0, y0, x0, k))
    for i in range(6):
        win = SpikeStream(paths[f[i]]).decode(int(t0[i]), int(t0[i]) + 41)
        win = win[:, y0[i]:y0[i] + 24, x0[i]:x0[i] + 24]
        ki = int(k[i])
        want = torch.rot90(win.flip(-1) if ki >= 4 else win, ki % 4, dims=(-2, -1))
        assert torch.equal(got[i], want.float())


def test_dat_windows_reject_short_or_small_streams(tmp_path):
    from spikekit.io import write_dat

    path = write_dat(tmp_path / "short.dat", torch.zeros(30, 20, 20, dtype=torch.uint8))
    with pytest.raises(ValueError, match="short.dat.*41 frames"):
        DatWindows([path], 16)


def test_scene_simulator_batches(tmp_path):
    cfg = tiny(tmp_path, noise=["on", "off"], crop=24)
    sim = SceneSimulator(cfg, 4)
    gen = torch.Generator().manual_seed(0)
    spikes, gt = sim.sample(gen, seed=11)
    assert spikes.shape == (4, 41, 24, 24) and spikes.dtype == torch.float32
    assert gt.shape == (4, 1, 24, 24) and 0 <= gt.min() and gt.max() <= 1
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    # Same generator state and seed: the same batch; the next draw differs.
    again = SceneSimulator(cfg, 4, images=sim.images).sample(torch.Generator().manual_seed(0), seed=11)
    assert torch.equal(again[0], spikes) and torch.equal(again[1], gt)
    assert not torch.equal(sim.sample(gen, seed=12)[1], gt)


def test_noise_levels():
    from spikekit.simulate import NoiseModel
    from ssml.data import noise_model

    off, on, strong = (noise_model(k) for k in ("off", "on", "strong"))
    assert off.random_init and off.threshold_sigma == 0 and not off.shot and off.dark_rate == 0
    assert off == NoiseModel.reds()  # the camera of the REDS-derived data (docs/simulator.md)
    assert on.shot and strong.threshold_sigma > on.threshold_sigma and strong.electrons < on.electrons
    with pytest.raises(ValueError, match="noise level"):
        noise_model("loud")


def test_scene_view_maps_output_pixels_to_source_pixels(tmp_path):
    """The simulator's view (spikekit.simulate.scene): zoom 1, no rotation, the rendered crop is
    the source block at the given centre in every frame, exactly; a 90-degree rotation turns it."""
    from spikekit.simulate.scene import rotation

    sim = SceneSimulator(tiny(tmp_path, crop=8), 1, images=torch.rand(1, 1, 32, 32))
    eye = torch.eye(2).view(1, 1, 2, 2)
    shift = torch.tensor([12 + 3.5, 5 + 3.5]).view(1, 1, 2).expand(1, 41, 2)  # x, y of the crop centre
    out = sim._view.sample(sim.images, eye, shift).view(41, 8, 8)
    block = sim.images[0, 0, 5:13, 12:20]
    assert torch.allclose(out[0], block, atol=1e-5) and torch.allclose(out[40], block, atol=1e-5)
    rot = rotation(torch.tensor([torch.pi / 2]), torch.tensor([1.0])).view(1, 1, 2, 2)
    out = sim._view.sample(sim.images, rot, shift)
    # source x = cx - uy, y = cy + ux: out[i, j] = block[j, 7 - i]
    assert torch.allclose(out.view(41, 8, 8)[0], torch.rot90(block, 1), atol=1e-4)


def test_simulated_firing_rate_follows_gain_times_gt(tmp_path):
    """Nearly static, noise-free scenes: the 41-frame firing rate is about gain x intensity."""
    cfg = tiny(tmp_path, noise=["off"], speed=[1e-4, 1e-4], rotation=0.0, zoom_rate=0.0, crop=32)
    spikes, gt = SceneSimulator(cfg, 4).sample(torch.Generator().manual_seed(1), seed=5)
    rate = spikes.mean(dim=(1, 2, 3))
    want = cfg.gain * gt.mean(dim=(1, 2, 3))
    assert torch.allclose(rate, want, atol=0.02), (rate, want)


def test_train_data_mix_and_state(tmp_path, shared_data):
    cfg = tiny(tmp_path, shared_data, batch=4, sim_fraction=0.5)
    data = TrainData(cfg)
    first = data.next()
    assert first["spikes"].shape == (4, 41, 16, 16) and first["gt"].shape == (2, 1, 16, 16)
    state = data.state_dict()
    nxt = data.next()
    data.load_state_dict(state)
    assert torch.equal(data.next()["spikes"], nxt["spikes"])


def test_windows_mirrored_at_a_stream_end_are_what_recon_reads_there():
    """Each mirrored window is the one `spikekit.recon.padding` reads for some centre within 20
    frames of a stream's first or last frame; the centre frame never changes."""
    import numpy as np

    from spikekit.recon.padding import reflect_index

    frames = 500  # a long stream: window start s in [-20, -1] (head) or [frames - 40, frames - 21] (tail)
    readable = {tuple(reflect_index(np.arange(s, s + 41), frames) - s)
                for s in list(range(-20, 0)) + list(range(frames - 40, frames - 20))}
    x = torch.arange(41.0).view(1, 41, 1, 1).expand(4000, 41, 1, 1).contiguous()
    gen = torch.Generator()
    gen.manual_seed(0)
    y = reflect_at_end(x, gen, 0.3)[:, :, 0, 0].long()
    mirrored = (y != x[:, :, 0, 0]).any(1)
    assert abs(mirrored.float().mean().item() - 0.3) < 0.03 and torch.equal(y[:, 20], torch.full((4000,), 20))
    seen = {tuple(r.tolist()) for r in y[mirrored]}
    assert seen == readable  # all 40 end positions occur, nothing else
    assert torch.equal(y[~mirrored], x[~mirrored][:, :, 0, 0].long())
    assert reflect_at_end(x, gen, 0.0) is x


def test_edge_prob_reaches_the_batches(tmp_path):
    plain = TrainData(tiny(tmp_path, batch=4)).next()["spikes"]
    edged = TrainData(tiny(tmp_path, batch=4, edge_prob=1.0)).next()["spikes"]
    assert torch.equal(plain[:, 20], edged[:, 20]) and not torch.equal(plain, edged)


# --- training loop -------------------------------------------------------------------------------

def test_cosine_schedule():
    cfg = TrainConfig(steps=100, lr=1e-3, lr_min=1e-5, lr_warmup=10)
    assert cosine_factor(0, cfg) == pytest.approx(0.1)
    assert cosine_factor(10, cfg) == pytest.approx(1.0)
    assert cosine_factor(100, cfg) == pytest.approx(0.01)
    assert cosine_factor(55, cfg) == pytest.approx(0.505)


def test_adam_eps_comes_from_the_config_also_on_resume(tmp_path):
    first = Trainer(tiny(tmp_path, steps=1))
    assert all(g["eps"] == 1e-8 for g in first.optimizer.param_groups)  # torch's default
    first.run()
    resumed = Trainer(tiny(tmp_path, steps=2, adam_eps=1e-12, lr=1e-3), resume=tmp_path / "run")
    assert all(g["eps"] == 1e-12 for g in resumed.optimizer.param_groups)
    # a changed lr (or steps) on resume continues the schedule of the new config
    want = 1e-3 * cosine_factor(1, resumed.cfg)
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(want)
    resumed.run()
    assert resumed.scheduler.base_lrs == [1e-3]


@pytest.mark.parametrize("key, value, message", [
    ("adam_eps", "1e-12", None), ("lr", 1, None), ("steps", 1.5, "steps=1.5: expected int"),
    ("dat", "a.dat", "expected list"), ("amp", 3, "expected str"), ("nla", "yes", "expected bool"),
])
def test_config_values_are_typed(key, value, message):
    if message is None:
        assert isinstance(getattr(TrainConfig.from_dict({key: value}), key), float)
        return
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({key: value})


def test_resume_is_bit_exact_and_sigint_checkpoints(tmp_path, shared_data):
    """10 steps == 5 steps, Ctrl-C (SIGINT) checkpoint, resume, 5 more steps: identical parameters
    and optimiser moments."""
    straight = Trainer(tiny(tmp_path / "a", shared_data, steps=10))
    straight.run()

    def interrupt(trainer):
        if trainer.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    cfg = tiny(tmp_path / "b", shared_data, steps=10)
    first = train(cfg, callback=interrupt)
    assert first["stopped"] and first["step"] == 5 and Path(first["checkpoint"]).is_file()
    resumed = Trainer(cfg, resume=cfg.out)
    assert resumed.step == 5
    summary = resumed.run()
    assert summary["step"] == 10 and not summary["stopped"]
    for a, b in zip(params_of(straight.model), params_of(resumed.model)):
        assert torch.equal(a, b)
    sa, sb = straight.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    # The CSV holds each step once, although steps 1..5 were logged by two processes.
    with open(Path(cfg.out) / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["tag"] == "loss/total"]
    assert steps == list(range(1, 11))


def test_checkpoint_contents_logs_and_validation(tmp_path, shared_data):
    val = f"{shared_data / SPIKE.format('200_part1')}:{shared_data / 'reds301/gt/200_part1_key_id151.png'}:150"
    cfg = tiny(tmp_path, shared_data, steps=2, val=[val], val_crop=32, val_sim=2, val_every=2, amp="bf16")
    summary = train(cfg)
    out = Path(cfg.out)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "rng", "step", "config", "spikekit_version"} <= set(ckpt)
    assert ckpt["step"] == 2 and ckpt["config"]["amp"] == "bf16"
    assert set(ckpt["rng"][0]) >= {"torch", "numpy", "python", "data"}
    assert TrainConfig.load(out / "config.yaml") == cfg.settled("cpu")  # paths, amp and lr as the run used them
    with open(out / "log.csv") as f:
        tags = {r["tag"]: float(r["value"]) for r in csv.DictReader(f)}
    for tag in ("loss/total", "loss/reconstruction", "loss/mutual", "lr", "val/sim_psnr", "val/sim_tfp21_psnr",
                "val/sim_ssim", "val/200_part1_psnr", "val/200_part1_ssim", "val/200_part1_raw_psnr"):
        assert tag in tags
    assert 0 < tags["val/200_part1_psnr"] < 60 and 0 < tags["val/200_part1_raw_psnr"] < 60
    assert any((out / "tb").iterdir())
    assert summary["last"]["loss/total"] == pytest.approx(tags["loss/total"], rel=1e-6)
    # The model loader accepts our checkpoint.
    import ssml

    model = ssml.load_model(out / "last.pt")
    assert not model.nla
    assert all(torch.equal(v, ckpt["model"][k]) for k, v in model.state_dict().items())


def test_bsn_warmup_leaves_the_nbsn_untouched(tmp_path):
    trainer = Trainer(tiny(tmp_path, steps=2, bsn_warmup=2))
    before = params_of(trainer.model.nbsn)
    trainer.run()
    assert all(torch.equal(a, b) for a, b in zip(before, params_of(trainer.model.nbsn)))


@pytest.mark.slow
def test_ddp_gloo_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "ssml", "-o", str(out), "--steps", "2", "--batch", "1", "--crop", "16", "--no-nla",
           "--val-every", "0", "--ckpt-minutes", "0", "--set", "images=[camera]", "--set", "image_size=64",
           "--set", "val_sim=0", "--threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-3000:]
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    # The two ranks drew different batches (per-rank seeded generators).
    assert ckpt["rng"][0]["data"]["seed"] != ckpt["rng"][1]["data"]["seed"]


# --- CLI -----------------------------------------------------------------------------------------

def run_cli(args):
    from spikekit.cli import main

    return CliRunner().invoke(main, ["train", *args], catch_exceptions=False)


def test_cli_dry_run_prints_parameter_counts():
    import ssml

    res = run_cli(["--dry-run"])
    assert res.exit_code == 0, res.output
    counts = ssml.count_parameters(ssml.SSML(nla=True))
    for name in ("BSN", "NBSN", "TOTAL"):
        assert name in res.output
    assert f"{counts['total']:,}" in res.output and "pseudo_label: tfp7" in res.output
    res = run_cli(["--dry-run", "--json", "--no-nla", "--set", "speed=[0.1, 2]"])
    doc = json.loads(res.stdout)
    assert doc["config"]["nla"] is False and doc["config"]["speed"] == [0.1, 2]
    assert doc["parameters"]["total"] == ssml.count_parameters(ssml.SSML(nla=False))["total"]


def test_unquoted_noise_levels_read_as_levels_not_booleans():
    """YAML 1.1 reads ``on``/``off`` as booleans; ``--set noise=[off,on]`` still means the levels."""
    res = run_cli(["--dry-run", "--json", "--set", "noise=[off,on,strong,off]"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["config"]["noise"] == ["off", "on", "strong", "off"]
    res = run_cli(["--dry-run", "--set", "noise=[off,loud]"])
    assert res.exit_code != 0 and "noise" in res.output


@pytest.mark.parametrize("args, message", [
    (["--set", "bogus=1"], "unknown training config key"),
    (["--set", "nonsense"], "KEY=VALUE"),
    (["--val", "nofile.dat:nofile.png:150"], "file not found"),
    (["--resume", "no_such_run"], "checkpoint not found"),
    (["--sim-fraction", "0.0"], "sim_fraction"),
    (["--crop", "4"], "crop"),
])
def test_cli_errors_are_clear(tmp_path, args, message):
    res = run_cli(["-o", str(tmp_path / "r"), "--steps", "1", *args])
    assert res.exit_code != 0 and message in res.output, res.output
    assert "Traceback" not in res.output


def test_cli_resume_extends_a_run(tmp_path):
    out = tmp_path / "r"
    common = ["-o", str(out), "--crop", "16", "--batch", "1", "--no-nla", "--val-every", "0", "--threads", "1",
              "--set", "images=[camera]", "--set", "image_size=64", "--set", "val_sim=0"]
    assert run_cli([*common, "--steps", "1"]).exit_code == 0
    res = run_cli(["--resume", str(out), "--steps", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["step"] == 2


def _run_args(out):
    return ["-o", str(out), "--crop", "16", "--batch", "1", "--no-nla", "--val-every", "0", "--threads", "1",
            "--set", "images=[camera]", "--set", "image_size=64", "--set", "val_sim=0", "--steps", "1"]


def test_cli_refuses_to_replace_an_existing_run(tmp_path):
    out = tmp_path / "r"
    assert run_cli(_run_args(out)).exit_code == 0
    before = {name: (out / name).read_bytes() for name in ("last.pt", "config.yaml", "log.csv")}
    res = run_cli([*_run_args(out), "--seed", "3"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{out} already holds a training run (last.pt, config.yaml, log.csv)" in res.output
    assert f"--resume {out}" in res.output and "--overwrite" in res.output
    assert {name: (out / name).read_bytes() for name in before} == before  # untouched
    res = run_cli(["--resume", str(tmp_path / "r"), "-o", str(tmp_path / "other"), "--steps", "2"])
    assert res.exit_code == 0, res.output  # resuming into a fresh folder is fine
    assert run_cli(["--resume", str(out), "-o", str(tmp_path / "other"), "--steps", "3"]).exit_code == 2
    res = run_cli([*_run_args(out), "--seed", "3", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert torch.load(out / "last.pt", weights_only=True)["config"]["seed"] == 3


@pytest.mark.parametrize("content", [b"PK\x03\x04 truncated zip", b"", None])
def test_cli_resume_from_a_corrupt_checkpoint_is_one_line(tmp_path, content):
    run = tmp_path / "r"
    run.mkdir()
    if content is None:  # a weights file, not a checkpoint
        torch.save({"w": torch.zeros(1)}, run / "last.pt")
    else:
        (run / "last.pt").write_bytes(content)
    res = run_cli(["--resume", str(run), "--steps", "2"])
    assert res.exit_code == 1 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    want = "not a training checkpoint (no 'model' entry" if content is None else "not a readable training checkpoint"
    assert f"{run / 'last.pt'}: {want}" in res.output, res.output


def test_cli_resume_from_another_folder_finds_relative_dat_paths(tmp_path, monkeypatch):
    from spikekit.io import write_dat

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir(), elsewhere.mkdir()
    spikes = torch.rand(64, 24, 24, generator=torch.Generator().manual_seed(0)) < 0.4
    write_dat(start / "rec.dat", spikes)
    monkeypatch.chdir(start)
    assert run_cli([*_run_args("run"), "--dat", "rec.dat"]).exit_code == 0
    ckpt = torch.load(start / "run" / "last.pt", weights_only=True)
    assert ckpt["config"]["dat"] == [str(start / "rec.dat")]
    monkeypatch.chdir(elsewhere)
    res = run_cli(["--resume", str(start / "run"), "--steps", "2"])
    assert res.exit_code == 0, res.output
    # A checkpoint storing the relative path (older runs): the error names the missing file.
    ckpt["config"]["dat"] = ["rec.dat"]
    torch.save(ckpt, start / "run" / "last.pt")
    res = run_cli(["--resume", str(start / "run"), "--steps", "3"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "training stream not found: rec.dat (named in the checkpoint's config)" in res.output


def test_cli_prints_validation_psnr(tmp_path):
    res = run_cli(["-o", str(tmp_path / "r"), "--crop", "16", "--batch", "1", "--no-nla", "--val-every", "1",
                   "--threads", "1", "--set", "images=[camera]", "--set", "image_size=64", "--set", "val_sim=2",
                   "--steps", "1"])
    assert res.exit_code == 0, res.output
    assert re.search(r"step 1: validation PSNR sim \d+\.\d\d dB, sim_tfp21 \d+\.\d\d dB", res.output), res.output
    res = run_cli(["--resume", str(tmp_path / "r"), "--steps", "2", "-q"])
    assert res.exit_code == 0 and "validation PSNR" not in res.output, res.output


def test_init_starts_a_fresh_run_from_weights(tmp_path):
    """--init: the model starts from the given weights; step, optimiser and schedule start fresh."""
    first = Trainer(tiny(tmp_path / "a", steps=2))
    first.run()
    weights = tmp_path / "w.pt"
    torch.save(first.model.state_dict(), weights)
    second = Trainer(tiny(tmp_path / "b", init=str(weights), seed=5))
    assert second.step == 0 and not second.optimizer.state
    for a, b in zip(params_of(first.model), params_of(second.model)):
        assert torch.equal(a, b)
    fresh = Trainer(tiny(tmp_path / "c", seed=5))
    assert any(not torch.equal(a, b) for a, b in zip(params_of(first.model), params_of(fresh.model)))
    res = run_cli(["-o", str(tmp_path / "d"), "--steps", "1", "--no-nla", "--init", str(tmp_path / "nope.pt")])
    assert res.exit_code != 0 and "nope.pt" in res.output and "Traceback" not in res.output
    res = run_cli(["-o", str(tmp_path / "d"), "--steps", "1", "--nla", "--init", str(weights)])
    assert res.exit_code != 0 and "w.pt" in res.output and "Traceback" not in res.output
    assert "without non-local attention; train with --no-nla" in res.output
    assert not (tmp_path / "d").exists()  # checked before the run folder is made


@pytest.mark.parametrize("index,gt,message", [
    (999, "reds301/gt/200_part1_key_id151.png", r"index 999 is not a spike frame of the 301-frame stream; valid: 0 \.\. 300"),
    (-1, "reds301/gt/200_part1_key_id151.png", r"index -1 is not a spike frame .* valid: 0 \.\. 300"),
    (150, "reds41/gt/000_part1_key_id21.png", None),
    (3, "reds41/gt/000_part1_key_id21.png", None),  # near the stream's start: read mirrored
])
def test_validation_cases_are_checked_before_training(tmp_path, shared_data, index, gt, message):
    from ssml.cases import parse_val

    dat = shared_data / SPIKE.format("200_part1")
    case = f"{dat}:{shared_data / gt}:{index}"
    if message is None:  # right size and index: accepted as is
        assert parse_val(case) == (dat, shared_data / gt, index)
        return
    with pytest.raises(ValueError, match=message):
        parse_val(case)


def test_validation_gt_size_must_match_the_stream(tmp_path, shared_data):
    import imageio.v3 as iio
    import numpy as np

    from ssml.cases import parse_val

    gt = tmp_path / "small.png"
    iio.imwrite(gt, np.zeros((250, 250), np.uint8))
    with pytest.raises(ValueError, match=r"GT .*small\.png is 250x250 but the stream is 250x400"):
        parse_val(f"{shared_data / SPIKE.format('200_part1')}:{gt}:150")


def test_train_options_are_the_config_fields_with_their_defaults():
    from ssml.cli import train as command

    defaults = TrainConfig()
    options = {p.name: p for p in command.params if p.name in TrainConfig.__dataclass_fields__}
    assert len(options) == 22 and "set_values" not in options
    for name, param in options.items():
        want = getattr(defaults, name)
        assert param.opts == (["--pair"] if name == "pairs" else param.opts[:-1] + ["--" + name.replace("_", "-")]), name
        if isinstance(want, list):
            assert param.multiple and want == [], name
        else:
            assert param.default == want and not param.multiple, name
    assert options["out"].opts == ["-o", "--out"] and options["nla"].secondary_opts == ["--no-nla"]
    assert list(options["pseudo_label"].type.choices) == ["tfp7", "tfi12"]


def test_a_seeded_run_repeats_whatever_the_load_and_records_its_threads(tmp_path, monkeypatch):
    """Issue 33: threads=0 followed the load (2 threads idle, 1 beside a busy process), so the
    same seeded command gave different weights, and config.yaml said threads: 0. Training now
    takes all usable cores whatever the load, and records the count it used."""
    import yaml

    import spikekit.threads as policy

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(policy, "usable_cores", lambda: 2)
    weights = []
    try:
        for busy in (0.0, 1.0):  # an idle machine, then one with a core kept busy by another process
            monkeypatch.setattr(policy, "busy_cores", lambda sample_s=0.05, busy=busy: busy)
            trainer = Trainer(tiny(tmp_path / f"busy{busy}", threads=0, steps=2))
            assert torch.get_num_threads() == 2 and "whatever the load" in policy.describe()
            trainer.run(quiet=True)
            weights.append(params_of(trainer.model))
            recorded = yaml.safe_load((tmp_path / f"busy{busy}" / "run" / "config.yaml").read_text())
            assert recorded["threads"] == 2 and trainer.checkpoint()["config"]["threads"] == 2
        assert all(torch.equal(a, b) for a, b in zip(*weights))
        Trainer(tiny(tmp_path / "b", threads=1))  # an explicit count wins
        assert torch.get_num_threads() == 1 and "--threads" in policy.describe()
    finally:
        torch.set_num_threads(before)


def test_python_api_stores_every_path_absolute_and_resumes_from_anywhere(tmp_path, monkeypatch):
    """Issue 29: train(TrainConfig(out="run", ...)) stored `out` (and `dat`) relative, so the run
    resumed only from the folder it was made in. Every path is now settled absolute at the start."""
    import yaml

    from spikekit.io import write_dat

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir(), elsewhere.mkdir()
    write_dat(start / "rec.dat", torch.rand(64, 24, 24, generator=torch.Generator().manual_seed(0)) < 0.4)
    monkeypatch.chdir(start)
    train(tiny(tmp_path, out="run", dat=["rec.dat"], steps=1, images=["camera"], image_size=64), quiet=True)
    saved = yaml.safe_load((start / "run" / "config.yaml").read_text())
    assert saved["out"] == str(start / "run") and saved["dat"] == [str(start / "rec.dat")]
    assert saved["images"] == ["camera"]  # a skimage.data name is not a path
    monkeypatch.chdir(elsewhere)
    res = run_cli(["--resume", str(start / "run"), "--steps", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert torch.load(start / "run" / "last.pt", weights_only=True)["step"] == 2 and not (elsewhere / "run").exists()


def test_adapt_run_resumes_from_another_folder(tmp_path, monkeypatch):
    """Issue 29: `--resume` of an adapt run only worked from the folder it was made in
    ("training stream not found: runs/fp32/data/rec.dat")."""
    from spikekit.io import write_dat
    from ssml.adapt import adapt_config

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    (start / "run" / "data").mkdir(parents=True), elsewhere.mkdir()
    write_dat(start / "run" / "data" / "rec.dat", torch.rand(64, 24, 24, generator=torch.Generator().manual_seed(0)) < 0.4)
    monkeypatch.chdir(start)
    train(adapt_config([Path("run/data/rec.dat")], "run", steps=1, batch=1, crop=16, threads=1, log_every=1), quiet=True)
    monkeypatch.chdir(elsewhere)
    res = run_cli(["--resume", str(start / "run"), "--steps", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert torch.load(start / "run" / "last.pt", weights_only=True)["step"] == 2


def test_a_run_from_trained_weights_starts_at_the_fine_tuning_rate(tmp_path):
    """Issue 29: --init at the from-scratch rate 3e-4 wrecked the shipped weights; lr 0 (the
    default) settles to FINETUNE_LR with init, SCRATCH_LR without; a given lr is kept."""
    from ssml.cli import build_config  # noqa: F401  (the CLI passes lr through the same field)
    from ssml.config import FINETUNE_LR, SCRATCH_LR

    assert TrainConfig().lr == 0 and FINETUNE_LR < SCRATCH_LR
    assert TrainConfig().settled("cpu").lr == SCRATCH_LR
    assert TrainConfig(init="default").settled("cpu").lr == FINETUNE_LR
    assert TrainConfig(init="default", lr=1e-3).settled("cpu").lr == 1e-3
    args = [a for a in _run_args(tmp_path / "r") if a != "--no-nla"]
    res = run_cli([*args, "--init", "default", "-q"])
    assert res.exit_code == 0, res.output
    saved = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["config"]
    assert saved["lr"] == FINETUNE_LR and saved["init"] == "default"
    res = run_cli(["--help"])
    assert f"{SCRATCH_LR:g}; {FINETUNE_LR:g} with --init" in " ".join(res.output.split())


def test_every_run_prints_its_data_mix_first(tmp_path, capsys, shared_data):
    """Issue 29: sim_fraction 0.5 silently mixed simulated photographs into a --dat run."""
    import ssml

    assert "TrainConfig" in ssml.__all__ and ssml.TrainConfig is TrainConfig
    cfg = TrainConfig(dat=["a.dat"], batch=4)
    assert cfg.data_mix() == "batch of 4: 2 windows of 1 .dat stream(s) (a.dat), 2 simulated scenes (20 photographs)"
    assert TrainConfig(dat=["a.dat"], sim_fraction=0).data_mix() == "batch of 4: 4 windows of 1 .dat stream(s) (a.dat)"
    assert TrainConfig().data_mix() == "batch of 4: 4 simulated scenes (20 photographs)"
    labels = tmp_path / "pl"  # pseudo-labels: a DAT:DIR entry counts one pair per image in it
    labels.mkdir()
    for n in (2, 4, 6):
        (labels / f"frame_{n:06d}.png").write_bytes(b"")
    pairs = TrainConfig(pairs=[f"a.dat:{labels}", "a.dat:gt.png:150", "a.dat:gt.png:150"], pair_fraction=0.5)
    assert pairs.data_mix().startswith("batch of 4: 2 crops of 5 training pair(s) (3 --pair entries), ")
    assert TrainConfig(pairs=["a.dat:gt.png:150"]).data_mix().startswith("batch of 4: 1 crops of 1 training pair(s), ")
    train(tiny(tmp_path, shared_data, steps=1))
    err = capsys.readouterr().err
    assert "ssml train: data: batch of 2: 1 windows of 1 .dat stream(s) (203_part2_key_id151.dat), " \
           "1 simulated scenes (2 photographs)" in err
    assert err.index("data:") < err.index("100%")
