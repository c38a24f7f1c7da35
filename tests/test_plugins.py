"""Plugins (src/spikekit/plugins.py): the toolkit names no plugin and runs without ``ssml``; methods
and commands of other packages come from the ``spikekit.methods`` / ``spikekit.commands`` entry
points; a plugin that cannot be loaded costs a one-line message, never a traceback."""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import spikekit
from spikekit.plugins import COMMANDS_GROUP, METHODS_GROUP, registered

REPO = Path(__file__).resolve().parents[1]
# `spikekit ARGS` in a fresh interpreter, with the modules named in SPIKEKIT_TEST_HIDE (comma
# separated) made unimportable first, as if they were not installed.
DRIVER = ("import os, sys\n"
          "for name in filter(None, os.environ.get('SPIKEKIT_TEST_HIDE', '').split(',')):\n"
          "    sys.modules[name] = None\n"
          "from spikekit.cli import main\n"
          "main(args=sys.argv[1:], prog_name='spikekit')\n")


def spikekit_cli(*args, cwd, hide=(), path=()):
    env = dict(os.environ, SPIKEKIT_TEST_HIDE=",".join(hide))
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", DRIVER, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def tfp_reference(spikes: np.ndarray, t: int, w: int = 41) -> np.ndarray:
    """Seed Eq. 2 for odd w: mean of frames t - w//2 .. t + w//2, times 1/0.6, clipped to 1."""
    window = spikes[t - w // 2:t + w // 2 + 1].astype(np.float64)
    return np.minimum(window.mean(axis=0) / 0.6, 1.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 70-frame 12 x 20 random stream on disk (no sidecar: sizes given with -H/-W)."""
    folder = tmp_path_factory.mktemp("clip")
    spikes = (torch.rand(70, 12, 20, generator=torch.Generator().manual_seed(7)) < 0.3).to(torch.uint8)
    return spikekit.write_dat(folder / "s.dat", spikes), spikes.numpy()


def test_no_toolkit_module_imports_or_names_ssml():
    imports = re.compile(r"^\s*(import\s+ssml\b|from\s+ssml\b)", re.M)
    targets = re.compile(r"[\"']ssml[.:]\w")  # "ssml.cli:train"-like strings
    offenders = [str(p.relative_to(REPO)) for p in sorted((REPO / "src" / "spikekit").rglob("*.py"))
                 if imports.search(p.read_text()) or targets.search(p.read_text())]
    assert offenders == []


def test_spikekit_runs_with_ssml_unimportable(clip, tmp_path):
    path, spikes = clip
    helped = spikekit_cli("--help", cwd=tmp_path, hide=["ssml"])
    assert helped.returncode == 0, helped.stderr
    listed = helped.stdout.split("Commands:")[1].split()
    assert "recon" in listed and "simulate" in listed and "train" not in listed
    assert "Traceback" not in helped.stderr
    for line in helped.stderr.splitlines():  # one line per plugin command left out
        assert line.startswith("warning: command ") and "the ssml plugin is not installed" in line

    out = tmp_path / "tfp.npy"
    done = spikekit_cli("recon", path, "-H", 12, "-W", 20, "-m", "tfp", "--at", 30, "-o", out, cwd=tmp_path,
                        hide=["ssml"])
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(out)[0], tfp_reference(spikes, 30), atol=1e-6)

    refused = spikekit_cli("recon", path, "-H", 12, "-W", 20, "-m", "ssml", "--at", 30, "-o", tmp_path / "x.npy",
                           cwd=tmp_path, hide=["ssml"])
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: -m ssml: the ssml plugin is not installed"), lines
    assert not (tmp_path / "x.npy").exists()


def test_the_installed_metadata_has_the_entry_points_of_setup_py():
    spec = importlib.util.spec_from_file_location("spikekit_setup", REPO / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)
    for group in (METHODS_GROUP, COMMANDS_GROUP):
        declared = dict(item.split("=") for item in setup.ENTRY_POINTS[group])
        assert registered(group) == declared, (
            f"the installed spikekit metadata is stale for {group}: reinstall "
            "(pip install --no-deps --no-build-isolation -e .)")


TOY_PLUGIN = '''
"""A toy spikekit plugin: -m first (gain x the spike frame itself) and `spikekit hello`."""
from dataclasses import dataclass

import click
import torch

from spikekit.recon import Method


@dataclass(frozen=True)
class FirstOptions:
    gain: float = 1.0


def first_run(source, centres, opts, scale):
    for c in centres:  # a file source: one stream, images (1, 1, H, W)
        frame = next(source.iter_frames(c, c + 1)).to(torch.float32)[None] * opts.gain
        yield [c], frame if scale is None else (frame * scale).clamp(max=1.0)


METHOD = Method("first", "gain x the spike frame at each index", first_run, lambda frames, opts: (0, frames - 1),
                FirstOptions)
NOT_A_METHOD = 42


@click.command()
@click.argument("name")
def hello(name):
    """Greet NAME."""
    click.echo(f"hello {name}")
'''


def fake_distribution(folder: Path, name: str, entry_points: str) -> None:
    """An installed-looking distribution ``name`` in ``folder`` (metadata only)."""
    info = folder / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_methods_and_commands_of_a_plugin(clip, tmp_path):
    path, spikes = clip
    site = tmp_path / "site"
    site.mkdir()
    (site / "toyplugin.py").write_text(TOY_PLUGIN)
    fake_distribution(site, "toyplugin", """
        [spikekit.methods]
        first = toyplugin:METHOD
        notamethod = toyplugin:NOT_A_METHOD
        [spikekit.commands]
        hello = toyplugin:hello
        """)
    fake_distribution(site, "brokenplugin", """
        [spikekit.methods]
        gone = no_such_module:METHOD
        [spikekit.commands]
        gone = no_such_module:command
        """)
    helped = spikekit_cli("--help", cwd=tmp_path, path=[site])
    assert helped.returncode == 0, helped.stderr
    listed = helped.stdout.split("Commands:")[1].split()
    assert "hello" in listed and "recon" in listed and "gone" not in listed
    assert helped.stderr.strip().splitlines() == [
        "warning: command 'gone': the no_such_module plugin is not installed (importing no_such_module: "
        "No module named 'no_such_module')"]

    greeted = spikekit_cli("hello", "plugin", cwd=tmp_path, path=[site])
    assert greeted.returncode == 0 and greeted.stdout == "hello plugin\n"

    helped = spikekit_cli("recon", "--help", cwd=tmp_path, path=[site])
    assert "-m gone: the no_such_module plugin is not installed" in helped.stderr
    assert "first: gain=1.0" in " ".join(helped.stdout.split())  # --param help from FirstOptions

    out = tmp_path / "first.npy"
    done = spikekit_cli("recon", path, "-H", 12, "-W", 20, "-m", "first", "--at", 3, "--at", 9, "--param", "gain=0.5",
                        "-o", out, cwd=tmp_path, path=[site])
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(out), spikes[[3, 9]] * 0.5 / 0.6, rtol=1e-6)

    for method, message in [("gone", "Error: -m gone: the no_such_module plugin is not installed"),
                            ("notamethod", "Error: -m notamethod: its entry point toyplugin:NOT_A_METHOD is a "
                                           "int, not a spikekit.recon.Method")]:
        refused = spikekit_cli("recon", path, "-H", 12, "-W", 20, "-m", method, "--at", 3, "-o", out,
                               cwd=tmp_path, path=[site])
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1 and lines[0].startswith(message), lines
