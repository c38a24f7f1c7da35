"""One progress policy for every long command (recon, view, simulate, info, train).

On a terminal (stderr is a TTY) a tqdm bar; otherwise (logs, pipes, CI) one plain line each
time another ``LINE_PERCENT`` per cent is done, or ``LINE_SECONDS`` after the last line when
the job is slow, so a log shows progress without carriage returns and a slow job speaks within
a minute of its start (with the time it still needs); with ``quiet`` nothing. Messages that must reach the screen during the run (e.g.
training's validation PSNR) go through :meth:`write`, which prints above a bar or as a line.
"""
from __future__ import annotations

import sys
import time

LINE_PERCENT = 10
"""Per cent of the total between two progress lines when stderr is not a terminal."""
LINE_SECONDS = 30.0
"""Seconds after which a line is printed anyway (off a terminal), however little was done."""


class _Lines:
    """A progress report of plain lines on stderr: ``DESC: 30% (300/1000 frames)`` (``unit`` + s);
    a line that comes after :data:`LINE_SECONDS` or more adds the time still needed at the rate
    so far (``, about 12 min left``)."""

    def __init__(self, total, desc: str, unit: str, initial: int = 0, clock=time.monotonic):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.postfix = ""
        self._shown = self._tenths(initial)
        self._clock = clock
        self._start = self._last = clock()
        self._initial = initial

    def _tenths(self, n: int) -> int:
        return int(100 * n / self.total) // LINE_PERCENT if self.total else 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        slow = now - self._last >= LINE_SECONDS
        if self.total and (self._tenths(self.n) > self._shown or slow):
            self._shown = self._tenths(self.n)
            self._last = now
            self.write(f"{self.desc}: {100 * self.n // self.total}% ({self.n}/{self.total} {self.unit}s)"
                       f"{self.postfix}{self._left(now)}")

    def _left(self, now: float) -> str:
        """``, about N min left`` (or ``s``) at the rate so far, once the job has run
        :data:`LINE_SECONDS`; else ""."""
        spent, done = now - self._start, self.n - self._initial
        if spent < LINE_SECONDS or done <= 0 or self.n >= self.total:
            return ""
        left = spent / done * (self.total - self.n)
        return f", about {left / 60:.0f} min left" if left >= 90 else f", about {left:.0f} s left"

    def set_postfix(self, **values) -> None:
        self.postfix = ", " + ", ".join(f"{k} {v}" for k, v in values.items()) if values else ""

    def write(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.total and self.n:  # no total to take percentages of: one line at the end
            self.write(f"{self.desc}: {self.n} {self.unit}s{self.postfix}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Silent(_Lines):
    """``quiet``: counts, prints nothing."""

    def write(self, message: str) -> None:
        pass


def progress(total: int | None, desc: str, unit: str = "frame", *, quiet: bool = False, initial: int = 0):
    """A progress reporter with ``update(n)``, ``set_postfix(**values)``, ``write(message)``,
    ``close()`` and the context-manager protocol.

    Args:
        total: the count at 100 % (None: unknown; non-TTY output then prints one line at the end).
        desc: what is running (the line prefix, e.g. ``"recon"``).
        unit: what is counted (``"frame"``, ``"image"``, ``"step"``).
        quiet: report nothing (``write`` is silent too).
        initial: the count already done (a resumed run).
    """
    if quiet:
        return _Silent(total, desc, unit, initial)
    if sys.stderr.isatty():
        from tqdm import tqdm

        class _Bar(tqdm):
            @classmethod
            def write(cls, s, file=None, end="\n", nolock=False):  # above the bar, on stderr too
                super().write(s, file=file or sys.stderr, end=end, nolock=nolock)

        return _Bar(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, leave=False)
    return _Lines(total, desc, unit, initial)


__all__ = ["progress", "LINE_PERCENT", "LINE_SECONDS"]
