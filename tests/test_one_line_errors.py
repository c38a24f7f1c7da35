"""The one-line reasons behind every CLI error: :func:`spikekit.errors.first_line` and
:func:`spikekit.cliutils.fail`."""
from __future__ import annotations

import click
import pytest

from spikekit.cliutils import fail
from spikekit.errors import first_line


@pytest.mark.parametrize("exc, want", [
    (ValueError("bad size\n  at line 3"), "bad size"),
    (RuntimeError("\n  \nkernel failed\ncontext"), "kernel failed"),
    (RuntimeError(""), "RuntimeError"),
    (ValueError(), "ValueError"),
])
def test_first_line(exc, want):
    assert first_line(exc) == want


@pytest.mark.parametrize("exc, want", [
    (RuntimeError("decode: bad byte\nException raised from ... (C++ context)"), "decode: bad byte"),
    (RuntimeError(""), "RuntimeError"),
    (KeyError("no such method"), "no such method"),
    (FileNotFoundError(2, "No such file or directory", "a.dat"), "a.dat: No such file or directory"),
    (ValueError("height must be > 0"), "height must be > 0"),
])
def test_fail_raises_one_line(exc, want):
    with pytest.raises(click.ClickException) as info:
        fail(exc)
    assert info.value.message == want and info.value.__cause__ is exc
