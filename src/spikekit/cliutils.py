"""What every spikekit command uses, built-in or plugin (``ssml``'s train/export/adapt too): one-line
errors (:func:`fail`), JSON output (:func:`echo_json`), opening a ``.dat`` with its geometry checks
(:func:`open_stream`) and the collection reports. It imports no command, so a plugin's command
module can import it without importing the command group (:mod:`spikekit.cli`).
"""
from __future__ import annotations

import json
import os

import click

from .errors import first_line


def fail(exc: BaseException):
    """Raise ``exc`` as a one-line ``click.ClickException`` (the CLI never shows a traceback).

    KeyError messages lose the quotes ``str(KeyError)`` adds; RuntimeErrors from the ops keep
    only their first line (the C++ context lines follow it); OSErrors read ``FILE: reason``
    (no ``[Errno N]``).
    """
    if isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    elif isinstance(exc, RuntimeError):
        message = first_line(exc)
    else:
        message = str(exc)
    raise click.ClickException(message) from exc


def open_stream(path, height, width, flip=None, head=None, force=False, rate=None):
    """Open a SpikeStream and check its geometry (:func:`spikekit.io.geometry.check_stream`),
    echoing warnings (leftover bytes, head columns, misaligned rows) to stderr.

    Raises:
        OSError, ValueError: as :class:`~spikekit.io.SpikeStream` and ``check_stream``.
    """
    import warnings

    from .io import SpikeStream
    from .io.geometry import GeometryError, check_stream

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stream = SpikeStream(path, height, width, flip=flip, rate=rate, head=head, force=force,
                                 check=False)  # checked below: an error unless --force
        notes = [str(w.message) for w in caught]
        try:
            notes += check_stream(stream, force)
        except GeometryError:
            stream.close()
            raise
    except GeometryError as exc:  # a wrong -H/-W: a usage error (exit status 2)
        error = click.ClickException(str(exc) + head_hint(path, height))
        error.exit_code = 2
        raise error from None
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    return stream


def head_hint(path, height=None) -> str:
    """'; columns 400-415 hold the same bits ...' when the file fits a known head layout, else ''."""
    import numpy as np

    from .io import resolve_size
    from .io.geometry import describe_head, detect_head

    h = resolve_size(path, height, None)[0]
    nbytes = os.path.getsize(path)
    found = detect_head(np.fromfile(path, dtype=np.uint8, count=min(nbytes, 16 << 20)), h, nbytes)
    if not found:
        return ""
    return (f"; {describe_head(*found)} of {found[0]}-column rows hold the same bits in every frame: "
            f"read it with -H {h} -W {found[0] - found[1]} --head {found[1]}")


def echo_json(obj) -> None:
    """Print one JSON document to stdout."""
    click.echo(json.dumps(obj, indent=None, default=float))


def collection_errors(exc: BaseException):
    """``fail(exc)``, except that a :class:`spikekit.collection.CollectionError` (the output folder
    is not this run's) is a usage error of ``-o/--output`` (exit status 2)."""
    from .collection import CollectionError

    if isinstance(exc, CollectionError):
        raise click.BadParameter(str(exc), param_hint="-o/--output") from exc
    fail(exc)


def report_collection(summary: dict, out_dir, verb: str, as_json: bool) -> None:
    """Print, on rank 0 only, what a collection run did (:func:`spikekit.collection.run_collection`'s
    summary): one line on stderr, or with ``as_json`` the summary (merged manifest included) on stdout."""
    if summary["rank"] != 0:
        return
    if as_json:
        echo_json(summary)
        return
    ranks = f" by {summary['world']} processes" if summary["world"] > 1 else ""
    click.echo(f"{out_dir}: {summary['inputs']} inputs, {summary['done']} {verb} now{ranks}, "
               f"{summary['skipped']} already done; manifest {summary['manifest']}, "
               f"{summary['seconds']:.1f} s", err=True)


def parse_assignments(items, option: str, decode=str.strip, example: str = "") -> dict:
    """The ``KEY=VALUE`` items of a repeatable option (``spikekit recon --param``, ``spikekit train
    --set``) as {key: decode(value)}: keys stripped and read with ``-`` as ``_``, a later key
    overriding an earlier one; the value is everything after the first ``=``.

    Args:
        option: the option's name, for the message.  decode: value text -> value.
        example: appended to the message, e.g. ``" (VALUE in YAML, e.g. speed=[0.05,2])"``.

    Raises:
        click.BadParameter: an item without ``=`` or with an empty key (exit status 2).
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE{example}, got {item!r}", param_hint=option)
        out[key.strip().replace("-", "_")] = decode(value)
    return out
