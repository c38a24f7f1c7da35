"""Collections: spikekit simulate/recon over folders, manifest, resuming, seeds, torchrun sharding."""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.collection import MANIFEST, Item, Ranks, input_seed, shard_of
from spikekit.io import SpikeStream
from spikekit.simulate import simulate, simulate_to_file

REPO = Path(__file__).resolve().parents[1]
STEPS = 20


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    """A REDS-like collection: frame folders 000/ and 001/ (3 PNGs, 32 x 32), sub/clip.mp4 (4 frames)."""
    root = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    for name in ("000", "001"):
        (root / name).mkdir()
        for k in range(3):
            iio.imwrite(root / name / f"{k:08d}.png", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    (root / "sub").mkdir()
    iio.imwrite(root / "sub" / "clip.mp4", rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), fps=10)
    return root


@pytest.fixture(scope="module")
def converted(src, tmp_path_factory) -> Path:
    """``spikekit simulate SRC -o OUT --gt-dir GT`` in one process."""
    out = tmp_path_factory.mktemp("one") / "out"
    r = cli("simulate", src, "-o", out, "--steps-per-frame", STEPS, "--gt-dir", out.parent / "gt", "-q")
    assert r.exit_code == 0, r.output
    return out


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST).read_text().splitlines()]


def test_seeds_and_shards_depend_only_on_the_relative_path():
    names = [f"{k:03d}" for k in range(50)] + ["a/clip.mp4"]
    seeds = {input_seed(0, n) for n in names}
    assert len(seeds) == len(names) and all(0 <= s < 2 ** 63 for s in seeds)
    assert input_seed(0, "000") != input_seed(1, "000")
    want = int.from_bytes(hashlib.sha256(b"7/a/clip.mp4").digest()[:8], "little") >> 1
    assert input_seed(7, "a/clip.mp4") == want
    items = [Item(n, Path(n), n + ".dat") for n in names]
    for world in (1, 2, 3):
        shares = [Ranks(r, world).mine(items) for r in range(world)]
        assert sorted(it.rel for share in shares for it in share) == sorted(names)  # each exactly once
        assert all(shard_of(it.rel, world) == r for r, share in enumerate(shares) for it in share)
    assert Ranks(1, 2, 1).device("cuda") == "cuda:1" and Ranks().device("cuda") == "cuda"


def test_one_output_per_input_with_its_derived_seed(src, converted):
    rows = records(converted)
    assert [r["input"] for r in rows] == ["000", "001", "sub/clip.mp4"]
    assert [r["output"] for r in rows] == ["000.dat", "001.dat", "sub/clip.dat"]
    for row in rows:
        data = (converted / row["output"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["seed"] == input_seed(0, row["input"])
        assert row["parameters"]["steps_per_frame"] == STEPS and row["parameters"]["command"] == "simulate"
        # the same bits as converting that one input alone with its seed
        alone = simulate(str(src / row["input"]), steps_per_frame=STEPS, seed=row["seed"], packed=True)
        assert data == alone.numpy().tobytes()
        assert row["frames"] == alone.shape[0] == len(SpikeStream(converted / row["output"]))
    assert sorted(p.name for p in (converted.parent / "gt" / "sub" / "clip").iterdir()) == \
        [f"{k * STEPS:08d}.png" for k in range(4)]
    assert sorted(p.name for p in (converted.parent / "gt" / "000").iterdir()) == \
        [f"{k * STEPS:08d}.png" for k in range(3)]


def test_interrupted_run_resumes_to_the_same_bytes(src, converted, tmp_path, monkeypatch):
    coll = importlib.import_module("spikekit.simulate.collection")  # spikekit.simulate is also a function

    out = tmp_path / "out"
    calls = []

    def interrupted(video, output, **kwargs):
        calls.append(video)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second input
        return simulate_to_file(video, output, **kwargs)

    monkeypatch.setattr(coll, "simulate_to_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        coll.simulate_collection(src, out, seed=0, quiet=True, parameters=_parameters())
    assert [r["input"] for r in records(out)] == ["000"]
    assert sorted(p.name for p in out.iterdir()) == ["000.dat", "000.dat.json", MANIFEST]  # nothing half-written
    first = (out / "000.dat").stat().st_mtime_ns
    monkeypatch.setattr(coll, "simulate_to_file", simulate_to_file)
    r = cli("simulate", src, "-o", out, "--steps-per-frame", STEPS, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert (summary["done"], summary["skipped"]) == (2, 1)
    assert (out / "000.dat").stat().st_mtime_ns == first  # skipped, not redone
    for name in ("000.dat", "001.dat", "sub/clip.dat"):
        assert (out / name).read_bytes() == (converted / name).read_bytes()


def _parameters():
    """The CLI's parameters of ``--steps-per-frame STEPS`` with every other option at its default."""
    from spikekit.simulate import NoiseModel

    return dict(rate=40000.0, fps=None, steps_per_frame=STEPS, gain=0.6, threshold=1.0,
                noise=NoiseModel().to_dict(), size=None, channels="rgb", gt_every=None, gt_format="png")


def test_a_torn_manifest_line_is_redone_and_bad_folders_are_refused(src, tmp_path):
    out = tmp_path / "out"
    assert cli("simulate", src, "-o", out, "--steps-per-frame", STEPS, "-q").exit_code == 0
    rows = (out / MANIFEST).read_text().splitlines()
    (out / MANIFEST).write_text("\n".join(rows[:2]) + "\n" + rows[2][:40])  # crash while appending
    r = cli("simulate", src, "-o", out, "--steps-per-frame", STEPS, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["done"] == 1
    assert [row["input"] for row in records(out)] == ["000", "001", "sub/clip.mp4"]

    r = cli("simulate", src, "-o", out, "--steps-per-frame", STEPS + 1)
    assert r.exit_code == 2 and f"steps_per_frame {STEPS} there, {STEPS + 1} now" in r.output
    r = cli("recon", out, "-o", out, "--stride", 10)
    assert r.exit_code == 2 and "by spikekit simulate, this is spikekit recon" in r.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my work")
    r = cli("simulate", src, "-o", mine, "--steps-per-frame", STEPS)
    assert r.exit_code == 2 and "holds files but no manifest.jsonl" in r.output
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    r = cli("simulate", src / "000", "-o", tmp_path / "x", "--steps-per-frame", STEPS)
    assert r.exit_code == 1 and "holds images itself, so it is one video" in r.output
    assert "Traceback" not in r.output


def test_recon_collection_matches_single_file_recon(converted, tmp_path):
    out = tmp_path / "rec"
    r = cli("recon", converted, "-o", out, "--stride", 10, "-w", 11, "-q")
    assert r.exit_code == 0, r.output
    rows = records(out)
    assert [row["output"] for row in rows] == ["000.npy", "001.npy", "sub/clip.npy"]
    for row in rows:
        alone = tmp_path / "alone.npy"
        assert cli("recon", converted / row["input"], "-o", alone, "--stride", 10, "-w", 11, "-q").exit_code == 0
        assert (out / row["output"]).read_bytes() == alone.read_bytes()
        images = np.load(out / row["output"])
        s = SpikeStream(converted / row["input"])
        stream = s[0:len(s)].numpy()
        centres = range(5, len(stream) - 5, 10)  # valid centres of an 11-frame window, every 10th
        want = np.stack([np.clip(stream[c - 5:c + 6].mean(0) / 0.6, 0, 1) for c in centres])
        assert row["frames"] == len(images) and np.allclose(images, want, atol=1e-6)


def _torchrun(*args, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "spikekit", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_two_torchrun_processes_write_the_same_bytes_as_one(src, converted, tmp_path):
    out = tmp_path / "two"
    p = _torchrun("simulate", src, "-o", out, "--steps-per-frame", STEPS, "--gt-dir", tmp_path / "gt", "-q",
                  cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "3 converted now by 2 processes" in p.stderr
    one = sorted(str(f.relative_to(converted)) for f in converted.rglob("*"))
    assert sorted(str(f.relative_to(out)) for f in out.rglob("*")) == one  # no manifest parts left
    for name in one:
        if name != MANIFEST and (converted / name).is_file():
            assert (out / name).read_bytes() == (converted / name).read_bytes(), name
    for f in (converted.parent / "gt").rglob("*.png"):
        assert (tmp_path / "gt" / f.relative_to(converted.parent / "gt")).read_bytes() == f.read_bytes()
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in records(converted)]
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in records(out)] == [
        {**row, "parameters": {**row["parameters"], "gt_dir": str(tmp_path / "gt")}} for row in strip]

    rec = tmp_path / "rec"
    p = _torchrun("recon", out, "-o", rec, "--stride", 10, "--format", "npy", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    alone = tmp_path / "alone"
    assert cli("recon", converted, "-o", alone, "--stride", 10, "-q").exit_code == 0
    for row in records(alone):
        assert (rec / row["output"]).read_bytes() == (alone / row["output"]).read_bytes()


def test_training_windows_are_slices_of_the_stream_with_their_centre_gt(src, tmp_path):
    out, window, every = tmp_path / "out", 21, 10
    r = cli("simulate", src, "-o", out, "--steps-per-frame", STEPS, "--windows", window, "--gt-every", every, "-q")
    assert r.exit_code == 0, r.output
    rows = records(out)
    for row in rows:
        name = row["output"][:-len(".dat")]
        data = (out / row["output"]).read_bytes()
        nb = len(data) // row["frames"]  # 32 x 32 pixels: 128 bytes per frame
        assert nb == 128
        gt = tmp_path / "gt" / name  # the same input alone, with GT every `every` spike frames
        simulate_to_file(str(src / row["input"]), tmp_path / "alone.dat", steps_per_frame=STEPS, seed=row["seed"],
                         gt_dir=gt, gt_every=every)
        centres = [n for n in range(row["frames"]) if n % every == 0 and n >= window // 2
                   and n - window // 2 + window <= row["frames"]]
        assert row["windows"] == len(centres) > 0
        inputs, gts = out / "windows" / "input" / name, out / "windows" / "gt" / name
        assert sorted(p.name for p in inputs.glob("*.dat")) == [f"{n:08d}.dat" for n in centres]
        assert sorted(p.name for p in gts.iterdir()) == [f"{n:08d}.png" for n in centres]
        for n in centres:
            sample = inputs / f"{n:08d}.dat"
            first = n - window // 2
            assert sample.read_bytes() == data[first * nb:(first + window) * nb]
            assert len(SpikeStream(sample)) == window and json.loads(sample.with_suffix(".dat.json").read_text())[
                "centre"] == n
            assert (gts / f"{n:08d}.png").read_bytes() == (gt / f"{n:08d}.png").read_bytes()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the staged GT is gone
    r = cli("simulate", src / "000", "-o", tmp_path / "x.dat", "--steps-per-frame", STEPS, "--windows", 21)
    assert r.exit_code == 2 and "--windows" in r.output


def test_folder_inputs_with_file_outputs_are_refused_with_a_hint(src, tmp_path):
    r = cli("simulate", src, "-o", tmp_path / "all.dat", "--steps-per-frame", STEPS)
    assert r.exit_code == 2 and "give an output folder" in r.output and not (tmp_path / "all.dat").exists()
    r = cli("recon", src, "-o", tmp_path / "all.mp4")
    assert r.exit_code == 2 and "the output is a folder" in r.output and not (tmp_path / "all.mp4").exists()
