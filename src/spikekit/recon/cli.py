"""``spikekit recon``, ``spikekit eval`` and ``spikekit view``.

Methods come from :mod:`spikekit.recon.registry` (``-m tfp|tfi|tfstp``, plus those of plugins);
each method's options class (:mod:`spikekit.recon.options`) says which of ``-w``,
``--max-interval``, ``--weights`` it takes and what ``--param`` accepts. Files are streamed chunk
by chunk, so memory stays bounded on long recordings.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import click
import numpy as np

from ..cliutils import collection_errors, echo_json, open_stream, parse_assignments, report_collection
from ..firing import SCALE_TEXT
from ..io import DEFAULT_HEIGHT, DEFAULT_WIDTH
from ..metrics import NO_REFERENCE_METRICS
from ..plugins import PluginError
from ..staticref import static_reference
from ..progress import progress
from ..threads import threads_option
from .base import auto_scale, parse_scale, reconstruct
from .collection import recon_collection
from .options import describe, option_names, parse_params
from .registry import get_method, method_names
from .run import MULTI_FRAME_STRIDE, ReconJob, recon_file
from .tfp import tfp
from .writers import open_writer, output_kind
from .tfi import TfiOptions
from .tfp import TfpOptions

RECORDED = ("height", "width", "flip", "head", "force", "method", "window", "at", "stride", "start", "stop",
            "max_interval", "pad", "scale", "gamma", "weights", "params", "fps")
"""The options of ``spikekit recon`` that shape its outputs, as a collection's manifest records them
(:attr:`spikekit.recon.run.ReconJob.record`), in this order."""
COLLECTION_FORMATS = ("npy", "mp4", "gif")
"""Per-input output types of ``spikekit recon IN_DIR -o OUT_DIR`` (one file each, hashed in the manifest)."""
VIEW_FRAMES = 1000
"""Default number of spike frames ``spikekit view`` shows (from --start)."""
FLAG_OPTIONS = ("window", "max_interval", "weights")
"""Method options set by their own flags (-w, --max-interval, --weights), given to the methods
whose options class has a field of that name; ``--param`` sets the other fields."""


@contextlib.contextmanager
def _cli_errors():
    """Turn expected errors into one-line click errors (never a traceback); an output folder
    that is not this collection run's is a usage error (exit 2)."""
    try:
        yield
    except (OSError, ValueError, TypeError, IndexError, KeyError, RuntimeError, ImportError) as exc:
        collection_errors(exc)


def method_settings(method, texts: dict, **flags) -> dict:
    """The options of ``method`` from the command line: the :data:`FLAG_OPTIONS` values in
    ``flags`` that it has a field for, and its ``--param`` values ``texts`` ({NAME: VALUE text},
    as :func:`spikekit.cliutils.parse_assignments` read them) as their fields' types
    (:func:`spikekit.recon.options.parse_params`).

    Raises:
        ValueError: a name it does not take, or a value its field's type cannot read.
    """
    fields = option_names(method.options)
    settings = {name: value for name, value in flags.items() if name in fields}
    settings.update(parse_params(method.options, texts, method.name, exclude=FLAG_OPTIONS))
    return settings


def params_by_method(methods, texts: dict) -> list:
    """The ``--param`` values of a command with several ``-m`` (``spikekit eval``), split by method:
    each method gets those whose name its options take (``eval -m tfp -m ssml --param ends=off``
    sets ``ends`` of ``ssml`` only), in the order given.

    Args:
        methods: the methods.  texts: {NAME: VALUE text} (:func:`spikekit.cliutils.parse_assignments`).

    Returns:
        one {NAME: VALUE text} per method of ``methods``.

    Raises:
        ValueError: a name that none of the methods takes (names them and what each takes).
    """
    fields = [set(option_names(m.options)) - set(FLAG_OPTIONS) for m in methods]
    orphans = [k for k in texts if not any(k in f for f in fields)]
    if orphans:
        known = "; ".join(f"{m.name}: {', '.join(sorted(f)) or 'none'}" for m, f in zip(methods, fields))
        raise ValueError(f"--param {', '.join(orphans)}: no -m takes it ({known})")
    return [{k: v for k, v in texts.items() if k in f} for f in fields]


@functools.lru_cache(maxsize=None)
def _loadable_methods() -> tuple:
    """The registered methods, for --help; a plugin that cannot be loaded is left out with a
    one-line warning (once)."""
    methods = []
    for name in method_names():
        try:
            methods.append(get_method(name))
        except PluginError as exc:
            click.echo(f"warning: {exc}", err=True)
    return tuple(methods)


def _param_help() -> str:
    by_text: dict = {}
    for m in _loadable_methods():
        text = describe(m.options, exclude=FLAG_OPTIONS)
        if text:
            by_text.setdefault(text, []).append(m.name)
    listed = "; ".join(f"{', '.join(names)}: {text}" for text, names in by_text.items())
    return (f"Method parameter, repeatable ({listed}; a default is the value shown, or the first of a|b)."
            if listed else "Method parameter, repeatable.")


def _weights_help() -> str:
    names = [m.name for m in _loadable_methods() if "weights" in option_names(m.options)]
    takers = f" ({', '.join('-m ' + n for n in names)})" if names else ""
    return (f"Weights of a learned method{takers}: a weights file, a training checkpoint or a run "
            "folder (default: the method's shipped ones).")


class _HelpLater(click.Option):
    """An option whose help text is written only when --help shows it (it imports the methods)."""

    def __init__(self, *args, help_text, **kwargs):
        super().__init__(*args, **kwargs)
        self._help_text = help_text

    def get_help_record(self, ctx):
        self.help = self._help_text()
        return super().get_help_record(ctx)


def stream_options(f):
    """-H/-W/--head/--force/--flip/--no-flip, shared by the commands that read a .dat."""
    f = click.option("--force", is_flag=True,
                     help="Read with the given size even when it looks wrong (a common size divides the "
                          "file and this one does not, or the rows of the image do not line up).")(f)
    f = click.option("--head", type=click.IntRange(min=0), default=None,
                     help="Head columns per row that are not pixels (16 for the 250 x 416 camera, read "
                          "with -W 400; default: sidecar, else 0).")(f)
    f = click.option("--flip/--no-flip", default=None,
                     help="Rows stored bottom-up (Vidar) / top-down (default: the sidecar's flip, else bottom-up).")(f)
    f = click.option("-W", "--width", type=int, default=None, help=f"Frame width (default: sidecar, else {DEFAULT_WIDTH}).")(f)
    f = click.option("-H", "--height", type=int, default=None, help=f"Frame height (default: sidecar, else {DEFAULT_HEIGHT}).")(f)
    return f


def method_options(f):
    """Options every method may use; each method reads the ones it needs."""
    f = threads_option(f)
    f = click.option("--param", "params", multiple=True, metavar="NAME=VALUE", cls=_HelpLater,
                     help_text=_param_help)(f)
    f = click.option("--weights", type=click.Path(), default=None, cls=_HelpLater, help_text=_weights_help)(f)
    f = click.option("--device", default="cpu", show_default=True, help="Where to compute: cpu, cuda, cuda:1.")(f)
    f = click.option("--gamma", type=float, default=1.0, show_default=True,
                     help="Output = intensity ** (1/gamma).")(f)
    f = click.option("--scale", default=SCALE_TEXT, show_default=True,
                     help="Intensity per unit firing rate: a number, a fraction, or 'auto' "
                          "(99.5th percentile -> 1).")(f)
    f = click.option("--pad", type=click.Choice(["none", "reflect"]), default="none", show_default=True,
                     help="reflect: centre windows on any spike frame by mirroring the stream at its "
                          "ends (else a window must fit inside the stream).")(f)
    f = click.option("--max-interval", type=int, default=TfiOptions.max_interval, show_default=True,
                     help="TFI: ISI search bound in spike frames on each side.")(f)
    return f


@click.command()
@click.argument("input", type=click.Path())
@stream_options
@click.option("-m", "--method", type=click.Choice(method_names()), default="tfp", show_default=True,
              help="Reconstruction method.")
@click.option("-w", "--window", type=int, default=TfpOptions.window, show_default=True,
              help="TFP window in spike frames (and of any method with a window option).")
@click.option("--at", type=int, multiple=True, help="Spike-frame index to reconstruct (repeatable).")
@click.option("--stride", type=int, default=None,
              help=f"Reconstruct every N-th valid spike frame (default for video/folder/.npy: "
                   f"{MULTI_FRAME_STRIDE}).")
@click.option("--start", type=int, default=None, help="First spike frame to reconstruct (with --stride).")
@click.option("--stop", type=int, default=None, help="Stop before this spike frame (with --stride).")
@method_options
@click.option("--fps", type=float, default=25.0, show_default=True, help="Frames per second of .mp4/.gif.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="OUT.png (one image), a folder (numbered PNGs), OUT.mp4, OUT.gif or OUT.npy (float32); "
                   "with a folder INPUT, the output folder.")
@click.option("--format", "fmt", type=click.Choice(COLLECTION_FORMATS), default="npy", show_default=True,
              help="With a folder INPUT: the file written per .dat (OUT_DIR/<name>.npy, .mp4 or .gif).")
@click.option("--json", "as_json", is_flag=True, help="With a folder INPUT: print the summary and manifest as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def recon(input, height, width, flip, head, force, method, window, at, stride, start, stop, max_interval, pad, scale,
          gamma, device, weights, params, fps, output, fmt, as_json, quiet):
    """Reconstruct images from a .dat spike stream (streamed: any file length).

    \b
    Examples:
      spikekit recon rec.dat -m tfp -w 41 --at 150 -o frame.png
      spikekit recon rec.dat -m tfi --stride 100 -o video.mp4
      spikekit recon rec.dat -m tfstp --start 1000 --stop 5000 --stride 20 -o frames/
      spikekit recon recordings/ -m tfp --stride 20 -o recon/      # every .dat below, manifest.jsonl
    """
    given = click.get_current_context().params
    record = {k: list(given[k]) if isinstance(given[k], tuple) else given[k] for k in RECORDED}
    folder = Path(input).is_dir()
    if folder and Path(output).suffix and not Path(output).is_dir():
        raise click.BadParameter(f"{output}: with a folder INPUT the output is a folder (a path without a "
                                 "suffix); --format picks the file type per input", param_hint="-o/--output")
    with _cli_errors():
        settings = method_settings(get_method(method), parse_assignments(params, "--param"), window=window,
                                   max_interval=max_interval, weights=weights)
        job = ReconJob(method=method, settings=settings, height=height, width=width, flip=flip, head=head,
                       force=force, at=tuple(at), stride=stride, start=start, stop=stop, pad=pad, scale=scale,
                       gamma=gamma, fps=fps, record=record)
        if folder:
            summary = recon_collection(Path(input), Path(output), job, suffix="." + fmt, device=device,
                                       quiet=quiet or as_json, opener=open_stream)
        else:
            count, what = recon_file(input, output, job, device=device, quiet=quiet, opener=open_stream)
    if folder:
        if not quiet or as_json:
            report_collection(summary, output, "reconstructed", as_json)
    elif not quiet:
        click.echo(f"wrote {count} image{'s' if count != 1 else ''} ({what}) to {output}", err=True)


@click.command("eval")
@click.argument("input", type=click.Path(dir_okay=False))
@stream_options
@click.option("--gt", "gts", multiple=True, type=click.Path(dir_okay=False),
              help="Ground-truth image or float .npy array (repeatable; pairs with --at in order): PSNR and SSIM.")
@click.option("--gt-dir", "gt_dir", type=click.Path(file_okay=False),
              help="Folder of ground-truth frames named by spike frame (00000040.npy/.png), as "
                   "spikekit simulate --gt-dir writes it: every frame in it, or those of --at.")
@click.option("--at", "ats", multiple=True, type=int,
              help="Spike-frame index to evaluate (repeatable; the matching --gt's index).")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(NO_REFERENCE_METRICS),
              help="No-reference metric, no ground truth needed (repeatable; lower is better): niqe-matlab "
                   "is NIQE on the scale of MATLAB's niqe.m and published tables, niqe scikit-video's.")
@click.option("-m", "--method", "methods", multiple=True, type=click.Choice(method_names()),
              help="Method (repeatable; default tfp).")
@click.option("-w", "--window", "windows", multiple=True, type=int,
              help=f"TFP window (repeatable; default {TfpOptions.window}).")
@method_options
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {method, params, window, at, psnr, ssim, gt, static_psnr, static_pixels, niqe, brisque} "
                   "(the ones computed).")
@click.option("--static", "static", is_flag=True,
              help="For a static camera: PSNR against the mean firing rate of the whole stream (exact to "
                   "1/frames where the scene does not change), on the pixels whose rate did not change.")
@click.option("-q", "--quiet", is_flag=True, help="No progress report.")
def evaluate(input, height, width, flip, head, force, gts, gt_dir, ats, metrics, methods, windows, max_interval, pad,
             scale, gamma, device, weights, params, as_json, static, quiet):
    """Quality of reconstructions: PSNR/SSIM against ground truth (data range 1; 8-bit GT / 255, a
    float .npy as it is),
    and/or the no-reference NIQE/BRISQUE (for real recordings, where no ground truth exists).
    With several -m, each --param goes to the methods that take it.

    \b
    Examples:
      spikekit eval rec.dat --gt gt.png --at 150 -m tfp -w 21 -w 41 -m tfi --json
      spikekit eval clip.dat --gt-dir gt --pad reflect -m tfp -m ssml-lite    # spikekit simulate --gt-dir gt
      spikekit eval real.dat --at 60 --at 140 --metric niqe --metric brisque -m tfp -m tfi -m ssml --scale auto
      spikekit eval still.dat --static --at 100 --at 300 -m tfp -m tfi -m ssml-lite   # a camera on a tripod
    """
    from ..metrics import gt_frames, load_gt, masked_psnr, psnr, ssim  # scikit-image: loaded by the command
    from ..noref import NO_REFERENCE

    if gt_dir and gts:
        raise click.UsageError("give --gt (one image per --at) or --gt-dir (a folder of them), not both")
    if gt_dir:
        with _cli_errors():
            found = gt_frames(gt_dir)
            missing = [at for at in ats if at not in found]
            if missing:
                raise ValueError(f"{gt_dir}: no ground truth for spike frame {missing[0]} (it holds frames "
                                 f"{', '.join(map(str, list(found)[:8]))}{', ...' if len(found) > 8 else ''})")
        ats = tuple(ats) or tuple(found)
        gts = tuple(str(found[at]) for at in ats)
    if not ats:
        raise click.UsageError("give the spike frames to evaluate: --at N (repeatable), or --gt-dir")
    if gts and len(gts) != len(ats):
        raise click.UsageError(f"give one --at per --gt: got {len(gts)} --gt and {len(ats)} --at")
    if not gts and not metrics and not static:
        raise click.UsageError("nothing to measure: give --gt or --gt-dir (PSNR/SSIM), --static, or "
                               "--metric niqe|brisque")
    rows = []
    with _cli_errors():
        stream = open_stream(input, height, width, flip, head, force)
        reference = None
        if static:
            reference = static_reference(stream)
            if parse_scale(scale) == "auto":  # one scale for the reference and every method
                scale = auto_scale(reference.rate)
        truths = [load_gt(path) for path in gts]
        for path, truth in zip(gts, truths):
            if truth.shape != (stream.height, stream.width):
                raise ValueError(f"{path}: ground truth is {truth.shape[0]} x {truth.shape[1]} but the "
                                 f"stream is {stream.height} x {stream.width}")
        names = methods or ("tfp",)
        chosen = [get_method(name) for name in names]
        runs = sum(len(windows or (TfpOptions.window,)) if m.uses_window else 1 for m in chosen)
        bar = progress(runs * len(ats), "eval", "image", quiet=quiet or as_json)
        with stream, bar:
            for name, m, given in zip(names, chosen, params_by_method(chosen, parse_assignments(params, "--param"))):
                settings = method_settings(m, given, max_interval=max_interval, weights=weights)
                for window in (windows or (TfpOptions.window,)) if m.uses_window else (None,):
                    images = reconstruct(m, stream, at=list(ats), scale=scale, gamma=gamma, device=device,
                                         pad=pad, on_batch=bar.update, **settings,
                                         **({"window": window} if window else {}))
                    for k, at in enumerate(ats):
                        image = images[k].cpu().numpy()
                        row = {"method": name, "params": given, "window": window, "at": at}
                        if gts:
                            row.update(psnr=psnr(image, truths[k]), ssim=ssim(image, truths[k]), gt=str(gts[k]))
                        row.update({metric: NO_REFERENCE[metric](image) for metric in metrics})
                        if reference is not None:
                            row.update(static_psnr=masked_psnr(image, reference.image(parse_scale(scale)).numpy(),
                                                               reference.static.numpy()),
                                       static_pixels=reference.static_share)
                        rows.append(row)
    if as_json:
        echo_json(rows)
        return
    columns = (["psnr", "ssim"] if gts else []) + (["static_psnr"] if static else []) + list(metrics)
    heads = {"psnr": "PSNR dB", "ssim": "SSIM", "niqe": "NIQE", "niqe-matlab": "NIQE-M", "brisque": "BRISQUE",
             "static_psnr": "static dB"}
    if reference is not None:
        click.echo(f"static reference: mean of spike frames {reference.start}..{reference.stop - 1}, "
                   f"{reference.static_share:.0%} of the pixels static", err=True)
    labels = [" ".join([r["method"], *(f"{k}={v}" for k, v in r["params"].items())]) for r in rows]
    width = max([len("method"), *map(len, labels)])
    click.echo(f"{'method':<{width}} {'window':>6} {'at':>7} " + " ".join(f"{heads[c]:>8}" for c in columns)
               + ("  gt" if gts else ""))
    for r, label in zip(rows, labels):
        values = " ".join(f"{r[c]:>8.4f}" if c == "ssim" else f"{r[c]:>8.2f}" for c in columns)
        click.echo(f"{label:<{width}} {r['window'] if r['window'] else '-':>6} {r['at']:>7} {values}"
                   + (f"  {r['gt']}" if gts else ""))


@click.command()
@click.argument("input", type=click.Path(dir_okay=False))
@stream_options
@click.option("--start", type=int, default=0, show_default=True, help="First spike frame shown.")
@click.option("--stop", type=int, default=None, help=f"Stop before this frame (default: start + {VIEW_FRAMES}).")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="Show every N-th spike frame.")
@click.option("--tfp", "with_tfp", is_flag=True, help="Show a TFP image beside each spike frame.")
@click.option("-w", "--window", type=int, default=TfpOptions.window, show_default=True, help="TFP window (with --tfp).")
@click.option("--scale", default=SCALE_TEXT, show_default=True, help="TFP scale (with --tfp).")
@click.option("--fps", type=float, default=25.0, show_default=True, help="Frames per second of the video.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="OUT.mp4 or OUT.gif.")
@threads_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def view(input, height, width, flip, head, force, start, stop, every, with_tfp, window, scale, fps, output, quiet):
    """Write the raw spike frames (white = spike) as a video, optionally with TFP beside them.

    Without --stop it shows a limited number of frames from --start (see --stop) and says so.
    TFP near the stream ends uses the nearest full window.
    """
    with _cli_errors():
        if output_kind(output) not in ("mp4", "gif"):
            raise ValueError(f"{output}: spikekit view writes .mp4 or .gif")
        stream = open_stream(input, height, width, flip, head, force)
        total = len(stream)
        clipped = stop is None and start + VIEW_FRAMES < total
        stop = min(total, start + VIEW_FRAMES) if stop is None else stop
        if not 0 <= start < stop <= total:
            raise ValueError(f"{input}: frame range [{start}, {stop}) is outside the stream; valid: "
                             f"0 <= start < stop <= {total}")
        frames = list(range(start, stop, every))
        gap = 4 if with_tfp else 0
        out_w = stream.width * (2 if with_tfp else 1) + gap
        if with_tfp and window > total:
            raise ValueError(f"{input}: the {total}-frame stream is shorter than the TFP window {window}")
        lo, hi = window // 2, total - 1 - (window - 1) // 2
        bar = progress(len(frames), "view", quiet=quiet)
        with stream, open_writer(output, len(frames), stream.height, out_w, fps) as writer:
            for a in range(0, len(frames), 64):
                part = frames[a:a + 64]
                tiles = np.full((len(part), stream.height, out_w), 128, dtype=np.uint8)
                tiles[:, :, :stream.width] = np.stack([stream[i].numpy() for i in part]) * 255
                if with_tfp:
                    images = tfp(stream, window=window, at=[min(max(i, lo), hi) for i in part], scale=scale)
                    tiles[:, :, stream.width + gap:] = np.round(images.numpy() * 255)
                writer.write(part, tiles)
                bar.update(len(part))
        bar.close()
    if not quiet:
        shown = f"spike frames {start}..{stop - 1}" + (f" every {every}" if every > 1 else "")
        note = (f"; only the first {VIEW_FRAMES} of the {total}-frame stream (--stop {total} shows all)"
                if clipped else "")
        click.echo(f"wrote {len(frames)} frames ({shown}) to {output}{note}", err=True)
