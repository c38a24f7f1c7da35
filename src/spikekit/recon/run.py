"""Reconstructing ``.dat`` files into image files: the work of ``spikekit recon``, without the CLI.

A :class:`ReconJob` says everything about one ``spikekit recon`` run except its input and output:
how to read a stream (size, flip, head columns), the method and its options, already parsed and
typed (:func:`spikekit.recon.options.parse_params` through the CLI), which spike frames, the
scale, gamma, padding and the video frame rate. :func:`recon_file` applies a job to one file;
:func:`spikekit.recon.collection.recon_collection` to every ``.dat`` under a folder. The command
line (:mod:`spikekit.recon.cli`) only parses its options into a job and calls them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

from ..firing import SCALE_TEXT
from ..io import SpikeStream
from ..io.geometry import check_stream
from ..progress import progress
from .base import plan_reconstruction
from .registry import get_method
from .writers import open_writer, output_kind

MULTI_FRAME_STRIDE = 100
"""Default stride for video/folder/.npy outputs when neither ``at`` nor ``stride`` is given."""


@dataclass(frozen=True)
class ReconJob:
    """One ``spikekit recon`` run, input and output aside; every value already checked and typed.

    Stream (as :func:`spikekit.cliutils.open_stream` reads it): ``height``, ``width`` (pixels;
    None: the sidecar's, else the defaults of :mod:`spikekit.io.dat`), ``flip`` (rows stored
    bottom-up; None: the sidecar's), ``head`` (head columns per row; None: the sidecar's),
    ``force`` (read a size that looks wrong).

    Method: ``method`` (a registered name), ``settings`` (keyword arguments of its options
    dataclass, typed: what ``-w``, ``--max-interval``, ``--weights`` and ``--param`` gave).

    Frames: ``at`` (spike-frame indices), else every ``stride``-th valid frame in [``start``,
    ``stop``) (``stride`` None with a multi-image output: :data:`MULTI_FRAME_STRIDE`); ``pad``
    (``"none"``/``"reflect"``). Images: ``scale`` (intensity per unit firing rate: a number, a
    fraction text, ``"auto"``), ``gamma``, ``fps`` (frames per second of .mp4/.gif outputs).

    ``record`` is the command line's options as given (JSON-able): what a collection's manifest
    stores, so that a resumed run is checked against the one that started it.
    """

    method: str = "tfp"
    settings: dict = field(default_factory=dict)
    height: int | None = None
    width: int | None = None
    flip: bool | None = None
    head: int | None = None
    force: bool = False
    at: tuple = ()
    stride: int | None = None
    start: int | None = None
    stop: int | None = None
    pad: str = "none"
    scale: object = SCALE_TEXT
    gamma: float = 1.0
    fps: float = 25.0
    record: dict = field(default_factory=dict)


Opener = Callable[..., SpikeStream]
"""``opener(path, height, width, flip, head, force) -> SpikeStream``: how :func:`recon_file` opens
its input (the CLI passes :func:`spikekit.cliutils.open_stream`, which prints the warnings and
turns a wrong size into a usage error)."""


def open_checked(path, height=None, width=None, flip=None, head=None, force=False) -> SpikeStream:
    """The stream at ``path``, its geometry checked (:func:`spikekit.io.geometry.check_stream`);
    the checks' notes are issued as warnings.

    Raises:
        OSError, ValueError: as :class:`~spikekit.io.SpikeStream`.  GeometryError: a size that
            is most likely wrong (not with ``force``).
    """
    stream = SpikeStream(path, height, width, flip=flip, head=head, force=force)
    try:
        notes = check_stream(stream, force)
    except Exception:
        stream.close()
        raise
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return stream


def recon_file(input, output, job: ReconJob, *, device: str = "cpu", quiet: bool = False,
               opener: Opener = open_checked) -> tuple[int, str]:
    """Reconstruct the ``.dat`` file ``input`` into ``output`` (.png, a folder, .mp4, .gif or .npy)
    as ``job`` says, streamed in bounded memory.

    Args:
        input: the ``.dat`` path.  output: the output path (its suffix picks the writer,
            :func:`spikekit.recon.writers.output_kind`).  job: the run's :class:`ReconJob`.
        device: where to compute.  quiet: no progress bar.  opener: see :data:`Opener`.

    Returns:
        (number of images written, what was reconstructed in words: method, frames, window).

    Raises:
        OSError, ValueError, TypeError, IndexError, KeyError, RuntimeError, ImportError: bad
        input, options or output (the CLI turns them into one-line errors).
    """
    kind = output_kind(output)
    stream = opener(input, job.height, job.width, job.flip, job.head, job.force)
    method = get_method(job.method)
    stride = job.stride
    if not job.at and stride is None and (kind != "png" or job.start is not None or job.stop is not None):
        stride = MULTI_FRAME_STRIDE
    plan = plan_reconstruction(method, stream, at=list(job.at) or None, stride=stride, start=job.start,
                               stop=job.stop, device=device, pad=job.pad, **job.settings)
    count = len(plan.centres)
    bar = progress(count, "recon", "image", quiet=quiet)
    with stream, open_writer(output, count, stream.height, stream.width, job.fps) as writer:
        for idx, images in plan.batches(scale=job.scale, gamma=job.gamma):
            writer.write(idx, images[0].cpu().numpy())
            bar.update(len(idx))
    bar.close()
    return count, plan.describe()


__all__ = ["MULTI_FRAME_STRIDE", "Opener", "ReconJob", "open_checked", "recon_file"]
