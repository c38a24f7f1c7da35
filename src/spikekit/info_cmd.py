"""``spikekit info`` (stream statistics, build facts) and ``spikekit convert`` (npz -> dat)."""
from __future__ import annotations

import click

from .cli import build_info, format_build_info
from .cliutils import echo_json, fail, open_stream
from .firing import DEFAULT_SCALE, SCALE_TEXT
from .io import DEFAULT_HEIGHT, DEFAULT_RATE, DEFAULT_WIDTH
from .threads import threads_option

PREVIEW_FRAMES = 64
PROGRESS_FRAMES = 20000  # streams longer than this report progress while they are counted


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("-H", "--height", type=int, default=None, help=f"Frame height (default: sidecar, else {DEFAULT_HEIGHT}).")
@click.option("-W", "--width", type=int, default=None, help=f"Frame width (default: sidecar, else {DEFAULT_WIDTH}).")
@click.option("--rate", type=float, default=None, help=f"Spike frames per second, Hz (default: sidecar, else {DEFAULT_RATE:g}).")
@click.option("--flip/--no-flip", default=None,
              help="Rows stored bottom-up (Vidar) / top-down (default: the sidecar's flip, else bottom-up).")
@click.option("--head", type=click.IntRange(min=0), default=None,
              help="Head columns per row that are not pixels (16 for the 250 x 416 camera, read with "
                   "-W 400; default: sidecar, else 0).")
@click.option("--force", is_flag=True, help="Read with the given size even when it looks wrong.")
@click.option("--preview", type=click.Path(dir_okay=False), default=None,
              help="Write a TFP image of the first 64 spike frames (PNG).")
@click.option("--scale", default=SCALE_TEXT, show_default=True,
              help="Preview intensity per unit firing rate: a number, a fraction, or 'auto' (99.5th "
                   "percentile -> white; for dark recordings).")
@click.option("--write-sidecar", is_flag=True,
              help="Write FILE.json with the size, row order, rate and head read here, so that every "
                   "command reads them (refused when FILE.json exists, unless --overwrite).")
@click.option("--overwrite", is_flag=True,
              help="With --write-sidecar: replace those fields of an existing FILE.json (its other keys stay).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--build", is_flag=True, help="Print versions, the CPU kernels' instruction-set path, CUDA kernel build and thread count.")
@click.option("-q", "--quiet", is_flag=True, help="No progress report (shown for long streams).")
@threads_option
def info(file, height, width, rate, flip, head, force, preview, scale, write_sidecar, overwrite, as_json, build,
         quiet):
    """Summarise a .dat spike stream: frames, duration, firing rate, dead, saturated and hot pixels.

    \b
    A recording from another camera: settle its size, row order and rate, then record them:
      spikekit info rec.dat -H 250 -W 400 --preview p.png        # upside down? add --no-flip
      spikekit info rec.dat -H 250 -W 400 --rate 20000 --write-sidecar
    """
    if build:
        facts = build_info()
        echo_json(facts) if as_json else click.echo(format_build_info(facts))
        if file is None:
            return
    if file is None:
        raise click.UsageError("FILE is required (or use --build)")
    if overwrite and not write_sidecar:
        raise click.UsageError("--overwrite goes with --write-sidecar")
    from .io import sidecar_path
    from .stats import stream_stats

    if write_sidecar and sidecar_path(file).exists() and not overwrite:
        raise click.BadParameter(f"{sidecar_path(file)} exists; --overwrite replaces its height, width, flip, "
                                 "rate and head (its other keys stay)", param_hint="--write-sidecar")
    try:
        stream = open_stream(file, height, width, flip, head, force, rate)
    except (OSError, ValueError) as exc:
        fail(exc)
    with stream:
        written = _write_sidecar(stream) if write_sidecar else None
        stats = stream_stats(stream, progress=not (as_json or quiet) and len(stream) > PROGRESS_FRAMES)
        stats["head"] = stream.head
        if written:
            stats["sidecar"] = str(written)
        if preview:
            try:
                _write_preview(stream, preview, scale)
            except (OSError, ValueError) as exc:  # missing, read-only or full folder; bad suffix
                fail(exc)
    if as_json:
        echo_json(stats)
        return
    click.echo(f"{stats['path']}\n"
               f"  size            {stats['height']} x {stats['width']} pixels, {stats['frames']} spike frames\n"
               f"  duration        {stats['duration_s']:.6g} s at {stats['rate']:g} Hz\n"
               f"  total spikes    {stats['total_spikes']}\n"
               f"  mean firing     {stats['mean_rate']:.4f} spikes/pixel/frame ({stats['mean_rate_hz']:.1f} Hz)\n"
               f"  spikes / frame  min {stats['frame_spikes_min']}, mean {stats['frame_spikes_mean']:.1f}, "
               f"max {stats['frame_spikes_max']}\n"
               f"  dead pixels     {stats['dead_pixels']} (never fire)\n"
               f"  saturated       {stats['saturated_pixels']} pixels (fire in > 90% of frames: bright scene or faulty)\n"
               f"  hot pixels      {stats['hot_pixels']} (saturated, every neighbour below half their rate: faulty)")
    if stream.head:
        from .io.geometry import describe_head

        click.echo(f"  head columns    {describe_head(stream.width + stream.head, stream.head)} of each "
                   f"{stream.width + stream.head}-column row, dropped")
    if preview:
        click.echo(f"  preview         {preview}")
    if written:
        click.echo(f"  sidecar         {written} written: every command reads this size, row order and rate")


def _write_sidecar(stream):
    """Write the stream's sidecar from what it was read with (its other keys kept); its path.

    Raises:
        click.ClickException: the sidecar cannot be written (one line naming it).
    """
    from .io import write_sidecar

    meta = {**stream.meta, "height": stream.height, "width": stream.width, "flip": stream.flip,
            "rate": stream.rate, "head": stream.head}
    try:
        return write_sidecar(stream.path, meta)
    except OSError as exc:
        fail(exc)


def _write_preview(stream, path, scale=DEFAULT_SCALE) -> None:
    import numpy as np

    from .io import write_image
    from .recon import tfp

    n = min(PREVIEW_FRAMES, len(stream))  # an even window has one more frame before its centre
    image = tfp(stream.decode(0, n), window=n, at=n // 2, scale=scale)
    write_image(path, np.round(image.numpy() * 255).astype(np.uint8))


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--key", default=None, help="Array name inside the .npz (default: spk).")
@click.option("--rate", type=float, default=None, help="Spike frames per second to record (Hz).")
@threads_option
def convert(src, dst, key, rate):
    """Convert an unpacked spike array (.npz/.npy, (T, H, W) of 0/1, upright) to .dat + sidecar.

    DST must end in .dat (the only format convert writes).
    """
    from pathlib import Path

    from .io import npz_to_dat

    if Path(dst).suffix.lower() != ".dat":
        raise click.BadParameter(f"{dst}: convert writes bit-packed .dat spike streams; name the output "
                                 f"*.dat (e.g. {Path(dst).with_suffix('.dat').name})", param_hint="DST")
    try:
        out = npz_to_dat(src, dst, key, rate=rate)
    except (OSError, KeyError, ValueError) as exc:
        fail(exc)
    click.echo(f"wrote {out}")
