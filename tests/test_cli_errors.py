"""Every command that writes, pointed at a missing, a read-only and a full output location:
a one-line error (or success), never a traceback, never a partial or temporary file left."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import write_dat

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--steps", "1", "--crop", "16", "--batch", "1", "--no-nla", "--val-every", "0", "--threads", "1",
         "--set", "images=[camera]", "--set", "image_size=64", "--set", "val_sim=0"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """A 64-frame 64 x 64 stream, the same as an unpacked .npy, and a 64 x 64 image."""
    root = tmp_path_factory.mktemp("inputs")
    spikes = torch.rand(64, 64, 64, generator=torch.Generator().manual_seed(0)) < 0.3
    np.save(root / "spikes.npy", spikes.numpy().astype(np.uint8))
    image = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    iio.imwrite(root / "image.png", image)
    return {"dat": str(write_dat(root / "s.dat", spikes)), "npy": str(root / "spikes.npy"),
            "png": str(root / "image.png")}


def commands(inputs: dict, folder: Path, creates_folders: bool = True) -> dict:
    """name -> CLI arguments writing into ``folder`` (commands that make their own output folder,
    and would then run to completion, only when ``creates_folders``)."""
    from ssml.weights_io import DEFAULT_WEIGHTS

    cmds = {
        "info --preview": ["info", inputs["dat"], "--preview", str(folder / "p.png")],
        "convert": ["convert", inputs["npy"], str(folder / "c.dat")],
        "simulate": ["simulate", inputs["png"], "-o", str(folder / "s.dat"), "--steps-per-frame", "64", "-q"],
        "recon": ["recon", inputs["dat"], "--at", "32", "-o", str(folder / "r.png"), "-q"],
        "recon .npy": ["recon", inputs["dat"], "--at", "32", "-o", str(folder / "r.npy"), "-q"],
        "recon .mp4": ["recon", inputs["dat"], "--stride", "2", "-o", str(folder / "r.mp4"), "-q"],
        "view": ["view", inputs["dat"], "-o", str(folder / "v.gif"), "-q"],
        "view .mp4": ["view", inputs["dat"], "-o", str(folder / "v.mp4"), "-q"],
        "export": ["export", str(DEFAULT_WEIGHTS), "-o", str(folder / "w.pt")],
    }
    if creates_folders:
        cmds["train"] = ["train", "-o", str(folder / "run"), *TRAIN]
        cmds["demo"] = ["demo", "-o", str(folder / "demo")]
        cmds["simulate --gt-dir"] = ["simulate", inputs["png"], "-o", str(folder / "g.dat"), "--gt-dir",
                                     str(folder / "gt"), "--steps-per-frame", "64", "-q"]
    return cmds


def assert_one_line_error(name: str, exit_code: int, output: str, exception: str | None):
    assert exception in (None, "SystemExit"), f"{name}: {exception}\n{output}"
    assert exit_code in (1, 2), f"{name}: exit {exit_code}\n{output}"
    assert "Traceback" not in output, f"{name}:\n{output}"
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"{name}:\n{output}"


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into (chmod; for root, which ignores modes, the immutable flag)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):  # root
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            folder.chmod(0o755)
            pytest.skip("cannot make a read-only folder here (root without chattr)")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_missing_output_folders_are_created_by_every_command(inputs, tmp_path):
    """One rule for every command (issue 29: some refused a missing folder, others made it): the
    folders above an output are created; a file standing where a folder must go is one line."""
    for k, (name, args) in enumerate(commands(inputs, tmp_path / "missing" / "deeper", creates_folders=False).items()):
        folder = tmp_path / f"missing{k}" / "deeper"
        args = [a.replace(str(tmp_path / "missing"), str(tmp_path / f"missing{k}")) for a in args]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, f"{name}: {res.output}"
        assert files_under(folder), f"{name}: nothing written in {folder}"
    (tmp_path / "file").write_text("")
    for name, args in commands(inputs, tmp_path / "file" / "deeper", creates_folders=False).items():
        res = CliRunner().invoke(main, args)
        assert_one_line_error(name, res.exit_code, res.output, type(res.exception).__name__ if res.exception else None)
        assert "cannot create folder" in res.output, f"{name}: {res.output}"


def test_read_only_output_folder(inputs, read_only):
    for name, args in commands(inputs, read_only).items():
        res = CliRunner().invoke(main, args)
        assert_one_line_error(name, res.exit_code, res.output, type(res.exception).__name__ if res.exception else None)
        assert str(read_only) in res.output, f"{name}: {res.output}"
    assert files_under(read_only) == []


_FULL_DISK_DRIVER = """
import json, resource, signal, sys
from click.testing import CliRunner
from spikekit.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (64, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
results = {}
for name, args in json.loads(sys.argv[1]).items():
    res = CliRunner().invoke(main, args)
    results[name] = [res.exit_code, res.output, type(res.exception).__name__ if res.exception else None]
print(json.dumps(results))
"""


def test_full_disk(inputs, tmp_path):
    """A file-size limit of 64 bytes (RLIMIT_FSIZE) makes every write fail as on a full disk."""
    folder = tmp_path / "full"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", _FULL_DISK_DRIVER, json.dumps(commands(inputs, folder))],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name, (code, output, exception) in json.loads(proc.stdout.splitlines()[-1]).items():
        assert_one_line_error(name, code, output, exception)
        # FFmpeg (a child process) cannot say why it stopped: the .mp4 writer checks the result.
        reason = "the video encoder did not finish the file" if name.endswith(".mp4") else "File too large"
        assert reason in output and str(folder) in output, f"{name}: {output}"
    # Training logs are appended as the run goes (not atomic files): they may stay, empty or cut.
    assert [f for f in files_under(folder) if not f.startswith(("run/log.csv", "run/tb/"))] == []
