"""``spikekit train`` (and ``python -m ssml.train``): train the SSML network.

Settings come, later ones winning, from the :class:`~ssml.config.TrainConfig` defaults, a YAML
``--config`` (or, with ``--resume``, the checkpoint's own config), ``--set KEY=VALUE`` and the
explicit options below.
"""
from __future__ import annotations

import warnings

import click
import yaml
from click.core import ParameterSource

from .config import TrainConfig

# Options whose change on --resume leaves the numbers unchanged (everything else changes the run).
_OPERATIONAL = {"out", "device", "threads", "log_every", "ckpt_every", "ckpt_minutes", "keep_every",
                "val", "val_every", "val_crop", "val_sim", "val_scale", "steps"}

# click parameter name -> config field (the options that map one-to-one).
_FIELDS = ("out", "steps", "batch", "crop", "lr", "seed", "dat", "sim_fraction", "val", "amp",
           "channels_last", "nla", "pseudo_label", "device", "threads", "ckpt_every", "ckpt_minutes",
           "val_every", "bsn_warmup", "init")


def _parse_set(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE (VALUE in YAML, e.g. speed=[0.05,2])",
                                     param_hint="--set")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def build_config(ctx: click.Context, params: dict) -> TrainConfig:
    """The run's config from the command line (see the module docstring).

    Raises:
        click.ClickException: unreadable config/checkpoint, unknown keys, bad values.
    """
    from .train import load_checkpoint_config

    try:
        if params["resume"]:
            base = load_checkpoint_config(params["resume"])
            if params["config"]:
                raise click.UsageError("--config and --resume exclude each other (a resumed run keeps "
                                       "its checkpoint's config; change single values with options)")
        elif params["config"]:
            base = TrainConfig.load(params["config"])
        else:
            base = TrainConfig()
        values = base.to_dict()
        explicit = _parse_set(params["set_values"])
        for name in _FIELDS:
            source = ctx.get_parameter_source(name)
            if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
                value = params[name]
                explicit[name] = list(value) if isinstance(value, tuple) else value
        changed = [k for k, v in explicit.items() if k in values and values[k] != v]
        if params["resume"] and set(changed) - _OPERATIONAL:
            warnings.warn(f"resuming with changed {sorted(set(changed) - _OPERATIONAL)}: the run will "
                          "not repeat the uninterrupted one bit-exactly", stacklevel=2)
        values.update(explicit)
        return TrainConfig.from_dict(values).validate()
    except (ValueError, FileNotFoundError, yaml.YAMLError) as exc:
        raise click.ClickException(str(exc)) from None


def dry_run(config: TrainConfig, as_json: bool) -> None:
    """Print parameter counts (per part and total) and the config, without training."""
    from spikekit.cli import echo_json

    from . import count_parameters
    from .train import build_model

    counts = count_parameters(build_model(config))
    if as_json:
        echo_json({"parameters": counts, "config": config.to_dict()})
        return
    what = "SSML-lite" if config.model == "lite" else f"SSML (nla={config.nla})"
    click.echo(f"{what} parameters:")
    for name in [k for k in ("bsn", "nbsn") if k in counts] + ["total"]:
        click.echo(f"  {name.upper():6s} {counts[name]:>12,}")
    click.echo("config:")
    click.echo("  " + yaml.safe_dump(config.to_dict(), sort_keys=False).rstrip().replace("\n", "\n  "))


@click.command("train")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML config (TrainConfig keys).")
@click.option("--resume", type=click.Path(), help="Continue from a checkpoint file or a run folder (its last.pt).")
@click.option("-o", "--out", type=click.Path(file_okay=False), default="runs/ssml", show_default=True,
              help="Run folder: last.pt, config.yaml, log.csv, tb/.")
@click.option("--steps", type=int, default=10000, show_default=True, help="Optimiser steps of the whole run.")
@click.option("--batch", type=int, default=4, show_default=True, help="Samples per step (per process).")
@click.option("--crop", type=int, default=40, show_default=True, help="Crop size in pixels.")
@click.option("--lr", type=float, default=3e-4, show_default=True, help="Adam learning rate (cosine decay).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every RNG.")
@click.option("--dat", multiple=True, type=click.Path(dir_okay=False),
              help="Training .dat spike stream (repeatable). None: simulated scenes only.")
@click.option("--sim-fraction", type=float, default=0.5, show_default=True,
              help="Share of each batch simulated on the device (with --dat).")
@click.option("--val", multiple=True, metavar="DAT:GT_PNG:INDEX",
              help="Validation case (GT only for PSNR/SSIM, never in the loss; repeatable).")
@click.option("--amp", type=click.Choice(["none", "bf16"]), default="none", show_default=True,
              help="bf16 autocast (CPU AVX-512 BF16 / GPU).")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory format.")
@click.option("--nla/--no-nla", default=True, show_default=True,
              help="NBSN with non-local attention (paper's best) or plain concat.")
@click.option("--pseudo-label", type=click.Choice(["tfp7", "tfi12"]), default="tfp7", show_default=True,
              help="BSN target.")
@click.option("--bsn-warmup", type=int, default=0, show_default=True, help="Steps training the BSN alone.")
@click.option("--init", type=str, default="", metavar="WEIGHTS",
              help="Start a new run from these weights (file, checkpoint, run folder, or 'default' "
                   "for the shipped ones) with a fresh optimiser and schedule.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N.")
@click.option("--threads", type=int, default=0, show_default=True, help="torch threads (0: default).")
@click.option("--ckpt-every", type=int, default=500, show_default=True, help="Checkpoint every N steps.")
@click.option("--ckpt-minutes", type=float, default=10.0, show_default=True, help="Checkpoint every M minutes.")
@click.option("--val-every", type=int, default=500, show_default=True, help="Validate every N steps.")
@click.option("--set", "set_values", multiple=True, metavar="KEY=VALUE",
              help="Any other TrainConfig key, VALUE in YAML (e.g. --set speed=[0.05,2] --set noise=[on]).")
@click.option("--dry-run", is_flag=True, help="Print parameter counts (BSN, NBSN, total) and the config; no training.")
@click.option("--json", "as_json", is_flag=True, help="Print the dry-run or the final summary as JSON.")
@click.pass_context
def train(ctx, **params):
    """Train SSML (BSN + NBSN, mutual learning) self-supervised on spike streams.

    \b
    Loss  L = MSE(BSN, pseudo-label) + 0.01 * MSE(NBSN, BSN), no ground truth in it.
    Data  scenes simulated on the device from skimage photographs (random smooth motion,
          the spikekit simulator) mixed with random windows of --dat streams.
    Ctrl-C saves a checkpoint; --resume RUN_FOLDER continues bit-exactly.

    \b
    Examples:
      spikekit train --dry-run
      spikekit train -o runs/a --steps 20000 --amp bf16 --dat a.dat --dat b.dat \\
          --val v.dat:v.png:150
      torchrun --nproc_per_node=4 -m ssml.train -o runs/b --device cuda
    """
    config = build_config(ctx, params)
    if params["dry_run"]:
        dry_run(config, params["as_json"])
        return
    from .train import train as run

    try:
        summary = run(config, resume=params["resume"])
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if params["as_json"]:
        from spikekit.cli import echo_json

        echo_json({k: (str(v) if k == "checkpoint" else v) for k, v in summary.items()})
    elif summary["checkpoint"]:
        state = "interrupted" if summary["stopped"] else "done"
        click.echo(f"{state} at step {summary['step']} ({summary['steps_per_s']:.2f} steps/s); "
                   f"checkpoint {summary['checkpoint']}", err=True)
    else:
        click.echo(f"nothing to do: the run is already at step {summary['step']} of {config.steps} "
                   "(raise --steps to continue it)", err=True)


__all__ = ["train", "build_config", "dry_run"]
