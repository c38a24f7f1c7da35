"""How many CPU threads spikekit computes with, and the ``--threads`` / ``--verbose`` options.

Policy: torch's intra-op pool gets the cores that are free to this process, i.e. the CPUs it may
run on (``os.sched_getaffinity``, capped by a cgroup v2 ``cpu.max`` quota) minus the cores other
processes keep busy (a 50 ms /proc/stat sample of those CPUs, else the 1-minute load average),
rounded, and at least one. torch's own default
(one thread per core) oversubscribes a machine where another job is running: on 2 cores with one
busy, two threads that wait for each other at every barrier run slower than one. The inter-op
pool is kept at one thread (spikekit runs its data path in one thread: decoding and network calls
follow each other; nothing parallel is started inside a parallel region).

``--threads N`` on every command overrides the policy, and so does ``OMP_NUM_THREADS`` (torchrun
sets it to 1 for each of several ranks on one machine); ``--verbose`` (and ``spikekit --version``)
print the count chosen and why.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import click

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
"""cgroup v2 CPU quota of this process's group: "<quota> <period>" (or "max <period>")."""
PROC_STAT = "/proc/stat"
"""Per-CPU busy and idle time (Linux)."""
SAMPLE_SECONDS = 0.05
"""How long :func:`busy_cores` watches the CPUs."""

_chosen: dict = {}


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (>= 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def load_average() -> float:
    """The 1-minute load average (runnable processes), or 0.0 where the OS has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _cpu_times(cpus) -> dict:
    """{cpu: (busy, total)} jiffies from /proc/stat for the CPUs in ``cpus``."""
    nice_busy = os.nice(0) > 0  # a niced job takes time from us only when we are niced too
    out = {}
    with open(PROC_STAT) as f:
        for line in f:
            name, *fields = line.split()
            if not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
                continue
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
            busy = user + system + irq + softirq + steal + (nice if nice_busy else 0)
            out[int(name[3:])] = (busy, user + nice + system + idle + iowait + irq + softirq + steal)
    return out


def busy_cores(sample_s: float = SAMPLE_SECONDS) -> float | None:
    """How many of this process's CPUs other processes keep busy now (0 .. usable), measured
    from /proc/stat over ``sample_s`` seconds while this process sleeps; ``None`` where
    /proc/stat cannot be read."""
    try:
        cpus = os.sched_getaffinity(0)
        before = _cpu_times(cpus)
        time.sleep(sample_s)
        after = _cpu_times(cpus)
    except (AttributeError, OSError, ValueError):
        return None
    shares = [(after[c][0] - before[c][0]) / (after[c][1] - before[c][1])
              for c in after if c in before and after[c][1] > before[c][1]]
    return sum(shares) if shares else None


def free_cores() -> tuple[int, str]:
    """Cores free to this process: ``(n >= 1, a one-line reason)``.

    ``usable_cores()`` minus the cores other processes keep busy, rounded, clipped to
    ``[1, usable_cores()]``. Busy cores come from a short /proc/stat sample (:func:`busy_cores`,
    which sees a competing job at once), else from the 1-minute load average (which lags).
    """
    cores = usable_cores()
    if cores == 1:  # nothing to choose: skip the /proc/stat sample and its sleep
        return 1, "auto: the one usable core"
    busy, what = busy_cores(), "busy"
    if busy is None:
        busy, what = load_average(), "load average"
    n = min(cores, max(1, cores - int(busy + 0.5)))
    return n, f"auto: {n} of {cores} cores free, {what} {busy:.2f}"


def apply_threads(threads: int | None = None, follow_load: bool = True) -> int:
    """Set torch's intra-op threads to ``threads`` (``None`` or 0: a positive ``OMP_NUM_THREADS``
    from the environment, else :func:`free_cores`, or with ``follow_load=False`` all
    :func:`usable_cores`); returns it.

    ``follow_load=False`` is for training: torch's reductions split work by thread, so weights
    depend on the thread count (1e-6 after a few steps), and a count that followed the load would
    make the same seeded command give different weights on an idle and on a busy machine.

    Also sets one inter-op thread when torch still allows it (before any parallel work).

    Raises:
        ValueError: ``threads`` is negative.
    """
    import torch

    if threads is not None and threads < 0:
        raise ValueError(f"--threads: expected a number of threads >= 1 (0: automatic), got {threads}")
    env = os.environ.get("OMP_NUM_THREADS", "")
    if threads:
        n, why = int(threads), "--threads"
    elif env.isdigit() and int(env) > 0:  # set by the user, or by torchrun for each rank
        n, why = int(env), "OMP_NUM_THREADS"
    elif not follow_load:
        n = usable_cores()
        why = f"auto: all {n} usable cores, whatever the load, so that a seeded run repeats"
    else:
        n, why = free_cores()
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has started: keep torch's
        pass
    _chosen.update(threads=n, reason=why)
    return n


def describe() -> str:
    """``"<n> (<reason>)"``: the count :func:`apply_threads` set, else the one it would choose."""
    if _chosen:
        return f"{_chosen['threads']} ({_chosen['reason']})"
    n, why = free_cores()
    return f"{n} ({why})"


def _verbose(ctx, _param, value):
    if value:
        ctx.meta["spikekit.verbose"] = True


def _threads(ctx, param, value):
    if ctx.resilient_parsing:
        return
    try:
        apply_threads(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], ctx=ctx, param=param) from None
    if ctx.meta.get("spikekit.verbose"):
        click.echo(f"threads: {describe()}", err=True)


def threads_option(f):
    """Click decorator: ``--threads N`` (default: free cores) and ``--verbose``, applied while
    the command line is parsed, so the command body needs no call."""
    f = click.option("--threads", type=int, default=None, expose_value=False, callback=_threads,
                     help="CPU threads for torch (default: the cores free to this process; "
                          "--verbose prints the count).")(f)
    return click.option("--verbose", is_flag=True, expose_value=False, is_eager=True, callback=_verbose,
                        help="Print the thread count chosen (to stderr).")(f)
