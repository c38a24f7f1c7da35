"""Turn a training checkpoint (model + optimiser + RNG states, ~44 MB) into a shipped weights file:
the float32 state dict of the SSML pair (~14 MB), loadable with ``torch.load(weights_only=True)``.

    spikekit export runs/ssml -o ssml/weights/ssml_default.pt
"""
from __future__ import annotations

from pathlib import Path

import click
import torch

from spikekit.threads import threads_option


def export_weights(source, output) -> dict:
    """Write the float32 state dict of the model in ``source``: the SSML pair (keys ``bsn.*``,
    ``nbsn.*``) or an ``ssml-lite`` :class:`ssml.lite.LiteNet`.

    Args:
        source: a weights file, checkpoint or run folder (its ``last.pt``), see
            :func:`ssml.load_model` (which also checks every key and shape).
        output: the ``.pt`` file to write, atomically (a temporary name, then a rename).

    Returns:
        ``{"output": str, "bytes": int, "step": int or None}`` (the checkpoint's step).

    Raises:
        FileNotFoundError: ``source`` or the output folder is missing.  ValueError: not SSML
        or ssml-lite weights.  OSError: the output cannot be written (read-only folder, full disk).
    """
    from spikekit.io import save_torch

    from .checkpoint import checkpoint_step
    from .weights_io import load_model, weights_path

    path = weights_path(source)
    model = load_model(path)
    step = checkpoint_step(path)  # memory-mapped: the tensors are not read a second time
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    output = Path(output)
    save_torch(output, state)
    return {"output": str(output), "bytes": output.stat().st_size, "step": step}


@click.command("export")
@click.argument("source", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Weights file to write (.pt).")
@threads_option
def export(source, output):
    """Export SSML or ssml-lite weights (float32 state dict) from a run folder or checkpoint.

    \b
    Example:
      spikekit export runs/ssml -o my_weights.pt
      spikekit recon rec.dat -m ssml --weights my_weights.pt --at 150 -o out.png
    """
    from spikekit.cliutils import fail

    try:
        done = export_weights(source, output)
    except (OSError, ValueError) as exc:  # missing source; missing, read-only or full output folder
        fail(exc)
    step = f" (step {done['step']})" if done["step"] is not None else ""
    click.echo(f"wrote {done['output']}{step}: {done['bytes'] / 2**20:.1f} MiB", err=True)
