"""``spikekit simulate``: a video (file, image folder, .npy array) to a ``.dat`` spike stream."""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import click

from ..cliutils import collection_errors, echo_json, report_collection
from ..firing import DEFAULT_GAIN
from ..threads import threads_option
from .model import DEFAULT_RATE, DEFAULT_THRESHOLD

CONFIRM_BYTES = 2 * 1024 ** 3
"""Above this expected .dat size, an interactive run asks before writing (``--yes`` skips it)."""


def _interactive() -> bool:
    """Whether a person can answer a question (stdin and stdout are terminals)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _megabytes(nbytes: int) -> str:
    """``nbytes`` in decimal units: ``"512 B"``, ``"12.8 MB"``, ``"8.7 GB"``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B"


@contextlib.contextmanager
def _reported():
    """Expected errors as one-line click errors (exit 2 for an output folder that is not this
    run's); the simulator's warnings echoed to stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        except (OSError, ValueError, TypeError, RuntimeError) as exc:
            collection_errors(exc)
        finally:
            for w in caught:
                click.echo(f"warning: {w.message}", err=True)


def _announce(planned: dict, output: Path, yes: bool, quiet: bool) -> None:
    """Print the expected output size; ask above ``CONFIRM_BYTES`` on a terminal unless ``yes``.

    Raises:
        click.Abort: the answer was no (nothing has been written).
    """
    size = planned["bytes"]
    if size is None:
        if not quiet:
            click.echo(f"simulate: writing {output} (its size is unknown until the video is decoded)", err=True)
        return
    what = (f"{planned['frames']:,} spike frames of {planned['height']} x {planned['width']}, "
            f"{_megabytes(size)}")
    if not quiet:
        click.echo(f"simulate: about {what} -> {output}", err=True)
    if size > CONFIRM_BYTES and not yes and _interactive():
        click.confirm(f"write {_megabytes(size)} to {output}? (--yes skips this question; --rate, "
                      "--steps-per-frame or --size make it smaller)", abort=True, err=True)


@click.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output .dat file (its sidecar is OUTPUT.json); with a folder VIDEO, a folder without "
                   "a suffix converts the collection (docs/collections.md).")
@click.option("--rate", type=float, default=DEFAULT_RATE, show_default=True, help="Spike frames per second (Hz).")
@click.option("--fps", type=float, default=None, help="Video frames per second (default: from the file).")
@click.option("--steps-per-frame", type=int, default=None,
              help="Spike frames per video frame (default: round(rate / fps)).")
@click.option("--gain", type=float, default=DEFAULT_GAIN, show_default=True,
              help="Charge per spike frame at intensity 1, in thresholds (firing prob. = gain x intensity).")
@click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True, help="Firing threshold theta.")
@click.option("--noise", type=click.Choice(["on", "off", "reds"]), default="on", show_default=True,
              help="off: deterministic integrate-and-fire, accumulator starting at 0. reds: the camera of the "
                   "public REDS-derived spike data (deterministic, random initial accumulator; docs/simulator.md).")
@click.option("--threshold-sigma", type=float, default=None,
              help="Relative per-pixel threshold spread (default 0.02; 0 with --noise reds).")
@click.option("--dark-rate", type=float, default=None,
              help="Dark-current firing rate of a dark pixel, Hz (default 10; 0 with --noise reds).")
@click.option("--electrons", type=float, default=None,
              help="Electrons per threshold, sets the shot noise (default 1000).")
@click.option("--no-shot", is_flag=True, help="Turn photon shot noise off.")
@click.option("--no-random-init", is_flag=True, help="Start every accumulator at 0.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw.")
@click.option("--size", default=None, help="Sensor size HxW, e.g. 250x400: resize (aspect kept) and centre-crop.")
@click.option("--bgr", is_flag=True, help="A colour .npy array is in BGR order (OpenCV).")
@click.option("--gt-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write ground-truth intensity images here, named {index:08d}.png by spike-frame index.")
@click.option("--gt-every", type=int, default=None, help="GT every N spike frames (default: each video frame).")
@click.option("--gt-format", type=click.Choice(["png", "npy", "both"]), default="png", show_default=True)
@click.option("--windows", type=click.IntRange(min=1), default=None,
              help="Collections: also write Spk2ImgNet-style samples, N spike frames centred on each GT "
                   "index (--gt-every), with their GT, under OUT_DIR/windows/ (docs/collections.md).")
@click.option("--chunk", type=int, default=1024, show_default=True, help="Spike frames per kernel call and write.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (frames, mean firing rate, seconds).")
@click.option("-q", "--quiet", "--no-progress", "quiet", is_flag=True, help="No progress and no size line.")
@click.option("-y", "--yes", is_flag=True,
              help="Write even when the output will exceed 2 GB (otherwise asked on a terminal).")
@threads_option
def simulate(video, output, rate, fps, steps_per_frame, gain, threshold, noise, threshold_sigma, dark_rate,
             electrons, no_shot, no_random_init, seed, size, bgr, gt_dir, gt_every, gt_format, windows, chunk, device,
             as_json, quiet, yes):
    """Simulate a spiking camera watching VIDEO (a video file, a folder of images, or a .npy array).

    \b
    Collections: `spikekit simulate SRC_DIR -o OUT_DIR` converts every video and every folder of
    images under SRC_DIR (one .dat each, manifest.jsonl, resumable; under torchrun the ranks
    share the inputs). Input seeds derive from --seed and the input's relative path.

    \b
    Per pixel and spike frame n:  A += gain * I(t_n) (+ dark current, + shot noise);
    when A >= threshold a spike is read out and the threshold is subtracted.
    I(t) is linearly interpolated between video frames. Same seed, same bits (CPU or CUDA).
    The expected output size is printed before starting.
    """
    import numpy as np

    from .collection import holds_images
    from .model import NoiseModel
    from .run import simulate_to_file

    if noise == "off":
        model = NoiseModel.off()
    else:  # "on" or the "reds" preset, each term overridable
        base = NoiseModel.resolve(noise)
        model = NoiseModel(random_init=base.random_init and not no_random_init,
                           threshold_sigma=base.threshold_sigma if threshold_sigma is None else threshold_sigma,
                           dark_rate=base.dark_rate if dark_rate is None else dark_rate,
                           shot=base.shot and not no_shot, electrons=base.electrons if electrons is None else electrons)
    source = video
    quiet = quiet or as_json
    if video.is_dir() and (output.is_dir() or not output.suffix):
        _simulate_collection(video, output, seed=seed, gt_dir=gt_dir, windows=windows, device=device, chunk=chunk,
                             quiet=quiet, as_json=as_json,
                             parameters=dict(rate=rate, fps=fps, steps_per_frame=steps_per_frame, gain=gain,
                                             threshold=threshold, noise=model.to_dict(), size=size,
                                             channels="bgr" if bgr else "rgb", gt_every=gt_every,
                                             gt_format=gt_format))
        return
    if video.is_dir() and not holds_images(video):
        raise click.BadParameter(f"{video} holds no images itself; to convert the videos and frame folders "
                                 "in it, give an output folder (a path without a suffix)", param_hint="-o/--output")
    if windows is not None:
        raise click.BadParameter("training windows are cut from collections: give a folder of videos or "
                                 "frame folders and an output folder", param_hint="--windows")
    if output.is_dir():
        raise click.BadParameter(f"{output} is a folder; give a .dat file (a folder output needs a folder "
                                 "of videos as input)", param_hint="-o/--output")
    with _reported():
        if video.suffix.lower() == ".npy" and video.is_file():
            source = np.load(video, mmap_mode="r")
            source = source[None] if source.ndim == 2 else source  # one image: a static scene
        summary = simulate_to_file(source, output, rate=rate, fps=fps, steps_per_frame=steps_per_frame,
                                   gain=gain, threshold=threshold, noise=model, seed=seed, device=device,
                                   size=size, channels="bgr" if bgr else "rgb", gt_dir=gt_dir,
                                   gt_every=gt_every, gt_format=gt_format, chunk=chunk, progress=not quiet,
                                   on_start=lambda planned: _announce(planned, output, yes, quiet))
    if as_json:
        echo_json(summary)
        return
    click.echo(f"wrote {summary['output']}: {summary['frames']} spike frames of {summary['height']} x "
               f"{summary['width']} ({summary['video_frames']} video frames x {summary['steps_per_frame']}), "
               f"mean firing rate {summary['mean_firing_rate']:.4f} per spike frame, {summary['seconds']:.1f} s")


def _simulate_collection(src: Path, out_dir: Path, *, parameters: dict, seed: int, gt_dir, windows, device,
                         chunk: int, quiet: bool, as_json: bool) -> None:
    """The collection form of ``spikekit simulate`` (:mod:`spikekit.simulate.collection`)."""
    from .collection import simulate_collection

    with _reported():
        summary = simulate_collection(src, out_dir, parameters=parameters, seed=seed, gt_dir=gt_dir,
                                      windows=windows, device=device, chunk=chunk, quiet=quiet)
    report_collection(summary, out_dir, "converted", as_json)

