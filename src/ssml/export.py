"""Turn a training checkpoint (model + optimiser + RNG states, ~44 MB) into a shipped weights file:
the float32 state dict of the SSML pair (~14 MB), loadable with ``torch.load(weights_only=True)``.

    spikekit export runs/ssml -o src/ssml/weights/ssml_default.pt
    spikekit export runs/ssml/step_0004000.pt runs/ssml/step_0004500.pt runs/ssml -o avg.pt
"""
from __future__ import annotations

from pathlib import Path

import click
import torch

from spikekit.cliutils import fail
from spikekit.io import save_torch
from spikekit.threads import threads_option

from .checkpoint import checkpoint_step
from .weights_io import load_model, weights_path


def export_weights(source, output) -> dict:
    """Write the float32 state dict of the model in ``source``: the SSML pair (keys ``bsn.*``,
    ``nbsn.*``) or an ``ssml-lite`` :class:`ssml.lite.LiteNet`. Several sources (checkpoints of
    one run, say the last few kept ones) give the mean of their weights: checkpoint averaging
    (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization", UAI
    2018), which smooths the step-to-step noise of the last part of a run.

    Args:
        source: a weights file, checkpoint or run folder (its ``last.pt``), see
            :func:`ssml.load_model` (which also checks every key and shape), or a list of them,
            all of one model.
        output: the ``.pt`` file to write, atomically (a temporary name, then a rename).

    Returns:
        ``{"output": str, "bytes": int, "step": int or None, "averaged": int}`` (the step of the
        last source's checkpoint; how many sources were averaged).

    Raises:
        FileNotFoundError: a source or the output folder is missing.  ValueError: not SSML or
        ssml-lite weights, or sources of different models (names both).  OSError: the output
        cannot be written (read-only folder, full disk).
    """
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if not sources:
        raise ValueError("export: no source given")
    state, first = None, None
    for src in sources:
        path = weights_path(src)
        weights = {k: v.detach().to("cpu", torch.float32) for k, v in load_model(path).state_dict().items()}
        if state is None:
            state, first = weights, path
        elif weights.keys() != state.keys():
            raise ValueError(f"export: {path} holds a different model from {first}: cannot average them")
        else:
            for k, v in weights.items():
                state[k] += v
    state = {k: (v / len(sources)).contiguous() for k, v in state.items()}
    step = checkpoint_step(path)  # memory-mapped: the tensors are not read a second time
    output = Path(output)
    save_torch(output, state)
    return {"output": str(output), "bytes": output.stat().st_size, "step": step, "averaged": len(sources)}


@click.command("export")
@click.argument("source", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Weights file to write (.pt).")
@threads_option
def export(source, output):
    """Export SSML or ssml-lite weights (float32 state dict) from a run folder or checkpoint;
    several SOURCEs (checkpoints of one run) are averaged.

    \b
    Example:
      spikekit export runs/ssml -o my_weights.pt
      spikekit recon rec.dat -m ssml --weights my_weights.pt --at 150 -o out.png
      spikekit export runs/ssml/step_0005000.pt runs/ssml/step_0005500.pt runs/ssml -o avg.pt
    """
    try:
        done = export_weights(source, output)
    except (OSError, ValueError) as exc:  # missing source; missing, read-only or full output folder
        fail(exc)
    notes = [f"the mean of {done['averaged']} sources"] if done["averaged"] > 1 else []
    if done["step"] is not None:
        notes.append(f"the last at step {done['step']}" if notes else f"step {done['step']}")
    what = f" ({', '.join(notes)})" if notes else ""
    click.echo(f"wrote {done['output']}{what}: {done['bytes'] / 2**20:.1f} MiB", err=True)
