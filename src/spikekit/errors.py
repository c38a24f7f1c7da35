"""One-line error reasons: the first line of an exception's message, for the one-line errors that
wrap a library's (loaders of images, videos and checkpoints add context lines after the first)."""
from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``str(exc)``, or the exception's type name when the message is
    empty (``ValueError()`` -> ``"ValueError"``)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
