"""The ``spikekit`` command line (click). ``python -m spikekit`` is the same program.

Subcommands are imported only when used, so ``spikekit info`` does not pay for video or network
imports. Each entry of ``COMMANDS`` names ``module:attribute`` of a click command.
"""
from __future__ import annotations

import importlib
import json
import os
import sys

import click

COMMANDS = {
    "info": "spikekit.info_cmd:info",
    "convert": "spikekit.info_cmd:convert",
    "simulate": "spikekit.simulate.cli:simulate",
    "recon": "spikekit.recon.cli:recon",
    "eval": "spikekit.recon.cli:evaluate",
    "view": "spikekit.recon.cli:view",
    "train": "ssml.cli:train",
    "export": "ssml.export:export",
    "adapt": "ssml.adapt:adapt",
    "demo": "spikekit.demo:demo",
}


def build_info() -> dict:
    """Versions and build facts: spikekit and torch versions, CUDA kernels compiled, threads."""
    import torch

    from . import __version__, ops
    from .threads import describe

    return {
        "spikekit": __version__,
        "torch": torch.__version__,
        "cuda_kernels": ops.WITH_CUDA,
        "cuda_available": torch.cuda.is_available(),
        "openmp_threads": torch.get_num_threads(),
        "threads": describe(),
    }


def format_build_info(info: dict) -> str:
    import torch

    why = "" if info["cuda_kernels"] else (" (torch is a CPU-only build)" if torch.version.cuda is None
                                          else " (built with SPIKEKIT_NO_CUDA or without nvcc)")
    return (f"spikekit {info['spikekit']}, torch {info['torch']}, CUDA kernels "
            f"{'compiled' if info['cuda_kernels'] else 'not compiled'}{why}, CUDA device "
            f"{'available' if info['cuda_available'] else 'not available'}, "
            f"threads {info['threads']}")


def _print_version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(format_build_info(build_info()))
        ctx.exit()


def _exit_on_sigterm(signum, frame):
    # Raise SystemExit in the main thread so `atomic_output` removes its temporary file (a kill
    # that bypassed Python would leave it). `spikekit train` installs its own handler (checkpoint).
    raise SystemExit(128 + signum)


def _thread_error(args) -> None:
    # A library's background thread (e.g. TensorBoard's event writer on a full disk) failing:
    # one line instead of its traceback; the main thread reports the error that stops the command.
    if args.exc_type is not SystemExit:
        click.echo(f"warning: background thread {args.thread.name if args.thread else ''}: "
                   f"{type(args.exc_value).__name__}: {args.exc_value}", err=True)


def _echo_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def invoke(self, ctx):
        import signal
        import threading
        import warnings

        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        threading.excepthook = _thread_error
        shown = warnings.showwarning
        warnings.showwarning = _echo_warning  # library warnings as one "warning: ..." line
        try:
            return super().invoke(ctx)
        finally:
            warnings.showwarning = shown

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return super().get_command(ctx, name)
        module, attr = COMMANDS[name].split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):  # that command is not part of this build
                return None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print spikekit/torch versions, whether CUDA kernels were compiled, threads.")
def main():
    """spikekit: spiking-camera streams in, images out.

    \b
    Spike streams are bit-packed .dat files (250 x 400 by default, or the size in the
    <file>.json sidecar). Run `spikekit COMMAND --help` for each command.
    """


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
        message = str(exc).splitlines()[0]
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
            stream = SpikeStream(path, height, width, flip=flip, rate=rate, head=head, force=force)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
