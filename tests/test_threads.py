"""The thread policy (src/spikekit/threads.py) and the --threads/--verbose option of every command."""
from __future__ import annotations

import os

import pytest
import torch
from click.testing import CliRunner

from spikekit import threads
from spikekit.cli import COMMANDS, main


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    threads._chosen.clear()


@pytest.mark.parametrize("busy, expected", [(0.0, 4), (0.4, 4), (0.6, 3), (1.0, 3), (2.5, 1), (3.4, 1), (9.0, 1)])
def test_free_cores_subtracts_busy_cores(monkeypatch, busy, expected):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "busy_cores", lambda: busy)
    n, why = threads.free_cores()
    assert n == expected and why.startswith(f"auto: {expected} of 4 cores free")


def test_free_cores_falls_back_to_the_load_average(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda: None)
    monkeypatch.setattr(threads, "load_average", lambda: 1.2)
    assert threads.free_cores() == (1, "auto: 1 of 2 cores free, load average 1.20")


def test_one_usable_core_needs_no_sample(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    monkeypatch.setattr(threads, "busy_cores", lambda *a: pytest.fail("sampled /proc/stat for one core"))
    assert threads.free_cores() == (1, "auto: the one usable core")


def test_usable_cores_honours_a_cgroup_quota(monkeypatch, tmp_path):
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(threads, "CGROUP_CPU_MAX", quota)
    affinity = len(os.sched_getaffinity(0))
    quota.write_text("max 100000\n")
    assert threads.usable_cores() == affinity
    quota.write_text("150000 100000\n")  # 1.5 CPUs: one full core
    assert threads.usable_cores() == 1
    quota.write_text("garbage\n")
    assert threads.usable_cores() == affinity


def test_busy_cores_from_proc_stat_deltas(monkeypatch, tmp_path):
    """Busy share per CPU of this process = busy jiffies / all jiffies between two reads."""
    stat = tmp_path / "stat"
    cpus = sorted(os.sched_getaffinity(0))
    samples = iter([(10, 0, 0, 100), (70, 0, 10, 120)])  # user, nice, system, idle per read

    def write(sample):
        lines = ["cpu  1 2 3 4 5 6 7 8 9 10"]
        lines += [f"cpu{c} {sample[0]} {sample[1]} {sample[2]} {sample[3]} 0 0 0 0 0 0" for c in cpus]
        stat.write_text("\n".join(lines) + "\nintr 1 2 3\n")

    write(next(samples))
    monkeypatch.setattr(threads, "PROC_STAT", str(stat))
    monkeypatch.setattr(threads.time, "sleep", lambda s: write(next(samples)))
    # each CPU: busy 70 of 90 jiffies
    assert threads.busy_cores() == pytest.approx(len(cpus) * 70 / 90)


def test_apply_threads_sets_torch(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.apply_threads(1) == 1 and torch.get_num_threads() == 1
    assert threads.describe() == "1 (--threads)"
    monkeypatch.setattr(threads, "free_cores", lambda: (2, "auto: test"))
    assert threads.apply_threads(None) == 2 and torch.get_num_threads() == 2
    assert threads.apply_threads(0) == 2
    with pytest.raises(ValueError, match="--threads"):
        threads.apply_threads(-1)


def test_every_command_takes_threads_and_verbose():
    runner = CliRunner()
    for name in COMMANDS:
        help_text = runner.invoke(main, [name, "--help"]).output
        assert "--threads" in help_text, name
        if name not in ("train", "adapt"):  # these keep their own --threads (the training config's)
            assert "--verbose" in help_text, name


def test_verbose_prints_the_count_and_bad_counts_are_usage_errors():
    runner = CliRunner()
    result = runner.invoke(main, ["info", "--build", "--threads", "1", "--verbose"])
    assert result.exit_code == 0, result.output
    assert "threads: 1 (--threads)" in result.output and torch.get_num_threads() == 1
    assert "threads 1 (--threads)" in result.output  # the build line says the same
    bad = runner.invoke(main, ["info", "--build", "--threads", "-2"])
    assert bad.exit_code == 2 and "--threads" in bad.output and "Traceback" not in bad.output


def test_omp_num_threads_is_honoured(monkeypatch):
    """torchrun sets OMP_NUM_THREADS=1 per rank: the default keeps it; --threads still wins."""
    monkeypatch.setattr(threads, "free_cores", lambda: (2, "auto: test"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.apply_threads(None) == 1 and threads.describe() == "1 (OMP_NUM_THREADS)"
    assert threads.apply_threads(2) == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert threads.apply_threads(None) == 2
