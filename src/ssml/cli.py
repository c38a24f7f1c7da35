"""``spikekit train`` (and ``python -m ssml``): train the SSML network.

Settings come, later ones winning, from the :class:`~ssml.config.TrainConfig` defaults, a YAML
``--config`` (or, with ``--resume``, the checkpoint's own config), ``--set KEY=VALUE`` and the
explicit options below.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import click
import yaml
from click.core import ParameterSource

from spikekit.cliutils import echo_json, fail, parse_assignments

from .checkpoint import RUN_FILES, load_checkpoint_config, resolve_checkpoint
from .config import FINETUNE_LR, RUN_KEYS, SCRATCH_LR, TrainConfig, absolute_paths
from .losses import PSEUDO_LABELS
from .networks import count_parameters
from .precision import AMP_MODES
from .train import build_model, train as run

# Options whose change on --resume leaves the numbers unchanged (everything else changes the run;
# threads too, though it is a run key: torch's reductions split work by thread).
_OPERATIONAL = {*RUN_KEYS, "val_crop", "val_sim", "val_scale"} - {"threads"}

# The TrainConfig fields that are options of their own (in --help order; the rest go through
# --set): each option's name, default and type come from the field, these add the help text and
# what a field cannot say (short flag, path checks, repeatable, choices, metavar).
_OPTIONS = {
    "out": dict(decls=("-o",), type=click.Path(file_okay=False),
                help="Run folder: last.pt, config.yaml, log.csv, tb/."),
    "steps": dict(help="Optimiser steps of the whole run."),
    "batch": dict(help="Samples per step (per process)."),
    "crop": dict(help="Crop size in pixels."),
    "lr": dict(help="Adam learning rate (cosine decay); 0: the default of the run.",
               show_default=f"{SCRATCH_LR:g}; {FINETUNE_LR:g} with --init"),
    "seed": dict(help="Seed of every RNG."),
    "dat": dict(type=click.Path(dir_okay=False),
                help="Training .dat spike stream (repeatable). None: simulated scenes only."),
    "sim_fraction": dict(help="Share of the batch left after --pair crops simulated on the device (with --dat)."),
    "pairs": dict(decls=("--pair",), metavar="DAT:GT_PNG:INDEX",
                  help="Training pair: a real stream and the GT of one spike frame, cropped into the "
                       "supervised loss; DAT:DIR takes each frame_N.png that 'spikekit recon DAT -o DIR/' "
                       "wrote as the GT of spike frame N (distillation) (repeatable; needs --set "
                       "objective=supervised or hybrid; never a validation stream)."),
    "pair_fraction": dict(help="Share of each batch drawn from --pair crops."),
    "val": dict(metavar="DAT:GT_PNG:INDEX",
                help="Validation case (GT only for PSNR/SSIM, never in the loss; repeatable)."),
    "amp": dict(type=click.Choice(AMP_MODES), help="bf16 autocast; auto: where the device computes bf16 "
                                                     "natively (CPU AVX-512 BF16 or AMX, GPU), else float32."),
    "channels_last": dict(help="NHWC memory format."),
    "nla": dict(help="NBSN with non-local attention (paper's best) or plain concat."),
    "pseudo_label": dict(type=click.Choice(PSEUDO_LABELS), help="BSN target."),
    "bsn_warmup": dict(help="Steps training the BSN alone."),
    "init": dict(metavar="WEIGHTS", help="Start a new run from these weights (file, checkpoint, run folder, or "
                                         "'default' for the shipped ones) with a fresh optimiser and schedule."),
    "device": dict(help="cpu, cuda, cuda:N."),
    "threads": dict(help="torch threads (0: all usable cores, whatever the load: the weights depend on "
                         "the count, and the run records it)."),
    "ckpt_every": dict(help="Checkpoint every N steps."),
    "ckpt_minutes": dict(help="Checkpoint every M minutes."),
    "val_every": dict(help="Validate every N steps."),
}


def _config_option(name: str, default, decls=(), **attrs):
    """The click option of TrainConfig field ``name``: ``--name-with-dashes`` (a bool field:
    ``--name/--no-name``; a list field: repeatable), or the long flag in ``decls`` instead when it
    has one (``--pair`` for ``pairs``); default and type from the field."""
    flag = name.replace("_", "-")
    if not any(d.startswith("--") for d in decls):
        decls = (*decls, f"--{flag}/--no-{flag}" if isinstance(default, bool) else f"--{flag}")
    if isinstance(default, list):
        attrs["multiple"] = True
    else:
        attrs.setdefault("type", type(default))
        attrs["default"] = default
        attrs.setdefault("show_default", default != "")
    return click.option(*decls, name, **attrs)


def config_options(command):
    """Add the options of :data:`_OPTIONS` to a click command, in that order."""
    defaults = TrainConfig()
    for name, attrs in reversed(_OPTIONS.items()):
        command = _config_option(name, getattr(defaults, name), **attrs)(command)
    return command


def _parse_set(items) -> dict:
    return parse_assignments(items, "--set", decode=yaml.safe_load,
                             example=" (VALUE in YAML, e.g. speed=[0.05,2])")


def check_out(config: TrainConfig, resume: Path | None, overwrite: bool) -> None:
    """Refuse to start a new run in a folder that holds one (unless ``overwrite``), and check that
    every ``dat`` file exists (a resumed run names the checkpoint's paths). ``resume``: the
    checkpoint file :func:`resolve_resume` found, or None.

    Raises:
        click.UsageError: the folder holds a run (exit 2; names ``--resume`` and ``--overwrite``).
        click.ClickException: a missing ``dat`` file.
    """
    out = Path(config.out)
    if resume is not None:
        resumed = resume.parent
        same = out.exists() and resumed.exists() and os.path.samefile(out, resumed)
    else:
        same = False
    found = [name for name in RUN_FILES if (out / name).exists()]
    first_rank = os.environ.get("RANK", "0") == "0"  # under torchrun rank 0 may have started already
    if found and not same and not overwrite and first_rank:
        raise click.UsageError(f"{out} already holds a training run ({', '.join(found)}); continue it "
                               f"with --resume {out}, or replace it with --overwrite")
    for path in config.dat:
        if not Path(path).is_file():
            where = " (named in the checkpoint's config)" if resume is not None else ""
            raise click.ClickException(f"training stream not found: {path}{where}")


def resolve_resume(resume) -> Path | None:
    """``--resume`` (a checkpoint file or a run folder) as the checkpoint file, once for the command.

    Raises:
        click.ClickException: no checkpoint there (names what was looked for).
    """
    if not resume:
        return None
    try:
        return resolve_checkpoint(resume)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


def build_config(ctx: click.Context, params: dict, resume: Path | None = None) -> TrainConfig:
    """The run's config from the command line (see the module docstring); ``resume`` is the
    checkpoint file of ``--resume`` (:func:`resolve_resume`).

    Raises:
        click.ClickException: unreadable config/checkpoint, unknown keys, bad values.
    """
    try:
        if resume is not None:
            base = load_checkpoint_config(resume)
            if params["config"]:
                raise click.UsageError("--config and --resume exclude each other (a resumed run keeps "
                                       "its checkpoint's config; change single values with options)")
        elif params["config"]:
            base = TrainConfig.load(params["config"])
        else:
            base = TrainConfig()
        values = base.to_dict()
        explicit = _parse_set(params["set_values"])
        for name in _OPTIONS:
            source = ctx.get_parameter_source(name)
            if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
                value = params[name]
                explicit[name] = list(value) if isinstance(value, tuple) else value
        explicit = absolute_paths(explicit)
        if resume is None:  # a --config's relative paths are relative to the current folder
            values = absolute_paths(values)
        elif "out" not in explicit:  # a resumed run stays in its folder, wherever that is now
            values["out"] = os.path.abspath(resume.parent)
        changed = [k for k, v in explicit.items() if k in values and values[k] != v]
        if resume is not None and set(changed) - _OPERATIONAL:
            warnings.warn(f"resuming with changed {sorted(set(changed) - _OPERATIONAL)}: the run will "
                          "not repeat the uninterrupted one bit-exactly", stacklevel=2)
        values.update(explicit)
        if "pair_fraction" in explicit and not values.get("pairs"):
            raise click.UsageError("--pair-fraction sets the share of each batch drawn from --pair crops, "
                                   "but there are no --pair entries (in the options or the config)")
        return TrainConfig.from_dict(values).validate()
    except (ValueError, FileNotFoundError, yaml.YAMLError) as exc:
        raise click.ClickException(str(exc)) from None


def dry_run(config: TrainConfig, as_json: bool) -> None:
    """Print parameter counts (per part and total) and the config, without training."""
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
@config_options
@click.option("--set", "set_values", multiple=True, metavar="KEY=VALUE",
              help="Any other TrainConfig key, VALUE in YAML (e.g. --set speed=[0.05,2] --set noise=[on]).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no validation lines.")
@click.option("--overwrite", is_flag=True, help="Replace the run already in --out (else refused).")
@click.option("--dry-run", is_flag=True, help="Print parameter counts (BSN, NBSN, total) and the config; no training.")
@click.option("--json", "as_json", is_flag=True, help="Print the dry-run or the final summary as JSON.")
@click.pass_context
def train(ctx, **params):
    """Train SSML (BSN + NBSN, mutual learning) or ssml-lite on spike streams.

    \b
    Loss  --set objective=self (default): MSE(BSN, pseudo-label) + 0.01 * MSE(NBSN, BSN),
          no ground truth in it; supervised: L1 to the ground truth of simulated
          samples and --pair crops; hybrid: both (--set model=lite: supervised only).
    Data  --pair-fraction of each batch from --pair crops (they need objective
          supervised or hybrid); of the rest, --sim-fraction simulated on the device
          (photographs and --set videos, the spikekit simulator) when --dat streams
          give the others.
    Ctrl-C saves a checkpoint; --resume RUN_FOLDER continues bit-exactly, in that folder. A
    folder that already holds a run is never replaced without --overwrite. -o/--dat/--pair/--val
    paths and an --init file are stored absolute, so a run resumes from any working directory.
    docs/training.md has the details and the shipped weights' recipes.

    \b
    Examples:
      spikekit train --dry-run
      spikekit train -o runs/a --steps 20000 --dat a.dat --dat b.dat \\
          --val v.dat:v.png:150
      spikekit train -o runs/l --set model=lite --set objective=supervised \\
          --pair t.dat:t.png:150 --val v.dat:v.png:150
      torchrun --nproc_per_node=4 -m ssml -o runs/b --device cuda
    """
    resume = resolve_resume(params["resume"])
    config = build_config(ctx, params, resume)
    if params["dry_run"]:
        dry_run(config, params["as_json"])
        return
    check_out(config, resume, params["overwrite"])
    try:
        summary = run(config, resume=resume, quiet=params["quiet"])
    except (ValueError, OSError) as exc:  # bad data; a missing, read-only or full run folder
        fail(exc)
    if params["as_json"]:
        echo_json({k: (str(v) if k == "checkpoint" else v) for k, v in summary.items()})
    elif summary["checkpoint"]:
        state = "interrupted" if summary["stopped"] else "done"
        click.echo(f"{state} at step {summary['step']} ({summary['steps_per_s']:.2f} steps/s); "
                   f"checkpoint {summary['checkpoint']}", err=True)
    else:
        click.echo(f"nothing to do: the run is already at step {summary['step']} of {config.steps} "
                   "(raise --steps to continue it)", err=True)


__all__ = ["train", "resolve_resume", "build_config", "check_out", "dry_run", "RUN_FILES"]
