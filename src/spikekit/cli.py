"""The ``spikekit`` command line (click). ``python -m spikekit`` is the same program.

Subcommands are imported only when used, so ``spikekit info`` does not pay for video or network
imports. Each entry of ``COMMANDS`` (the built-in ones) names ``module:attribute`` of a click
command; other packages add commands through the ``spikekit.commands`` entry-point group
(:mod:`spikekit.plugins`; ``ssml`` adds ``train``, ``export`` and ``adapt``). A plugin command
that cannot be loaded is left out with a one-line warning.
"""
from __future__ import annotations

import importlib
import sys

import click

from .plugins import COMMANDS_GROUP, PluginError, load, registered

COMMANDS = {
    "info": "spikekit.info_cmd:info",
    "convert": "spikekit.info_cmd:convert",
    "simulate": "spikekit.simulate.cli:simulate",
    "recon": "spikekit.recon.cli:recon",
    "eval": "spikekit.recon.cli:evaluate",
    "view": "spikekit.recon.cli:view",
    "demo": "spikekit.demo:demo",
}


def build_info() -> dict:
    """Versions and build facts: spikekit and torch versions, the CPU kernels' instruction-set
    path (in use and the CPU's best), CUDA kernels compiled, threads."""
    import torch

    from . import __version__, ops
    from .threads import describe

    return {
        "spikekit": __version__,
        "torch": torch.__version__,
        "cpu_capability": ops.cpu_capability(),
        "cpu_best_capability": ops.cpu_best_capability(),
        "cuda_kernels": ops.WITH_CUDA,
        "cuda_available": torch.cuda.is_available(),
        "openmp_threads": torch.get_num_threads(),
        "threads": describe(),
    }


def format_build_info(info: dict) -> str:
    import torch

    why = "" if info["cuda_kernels"] else (" (torch is a CPU-only build)" if torch.version.cuda is None
                                          else " (built with SPIKEKIT_NO_CUDA or without nvcc)")
    cpu = info["cpu_capability"]
    if cpu != info["cpu_best_capability"]:
        cpu += f" (forced; this CPU's best: {info['cpu_best_capability']})"
    return (f"spikekit {info['spikekit']}, torch {info['torch']}, CPU kernels {cpu}, CUDA kernels "
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
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS) | set(registered(COMMANDS_GROUP)))

    def get_command(self, ctx, name):
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        target = registered(COMMANDS_GROUP).get(name)
        if target is None:
            return super().get_command(ctx, name)
        try:
            command = load(target, f"command {name!r}")
            if not isinstance(command, click.Command):
                raise PluginError(f"command {name!r}: its entry point {target} is a "
                                  f"{type(command).__name__}, not a click command")
            return command
        except PluginError as exc:
            if name not in _warned:
                _warned.add(name)
                click.echo(f"warning: {exc}", err=True)
            return None


_warned: set = set()  # plugin commands already reported as not loadable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print spikekit/torch versions, the CPU kernels' instruction-set path, whether CUDA kernels were compiled, threads.")
def main():
    """spikekit: spiking-camera streams in, images out.

    \b
    Spike streams are bit-packed .dat files (250 x 400 by default, or the size in the
    <file>.json sidecar). Run `spikekit COMMAND --help` for each command.
    """


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
