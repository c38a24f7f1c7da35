"""``spikekit demo``: simulate a moving scene with exact ground truth, reconstruct, compare.

Needs no data beyond the packages: a scikit-image photograph (``skimage.data.camera``, public
domain) moves along a known trajectory (a smooth translation with a small rotation); the
simulator (noise on) turns it into a 40 kHz spike stream written as ``scene.dat`` with its
sidecar; every registered reconstruction method (TFP, TFI, TFSTP, and SSML when its weights are
installed) reconstructs the frames where ground truth was exported; a PSNR/SSIM table is printed
and ``compare.png`` / ``compare.mp4`` show GT, raw spikes and each method side by side.
"""
from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
import torch

from .io import DEFAULT_RATE  # spike frames per second (Hz) of the demo stream
from .threads import threads_option

HEIGHT, WIDTH = 192, 256        # sensor size of the demo scene (pixels)
VIDEO_FRAMES = 10               # rendered key frames of the trajectory
STEPS = 40                      # spike frames per key frame (linear interpolation between them)
SPEED = (0.06, 0.015)           # translation, pixels per spike frame (x, y)
SPIN = 0.02                     # rotation over the clip, radians
ZOOM = 1.6                      # photo pixels per output pixel
START = (-38.4, 0.0)            # the view's centre at key frame 0 from the photo's centre, photo pixels
EVAL_EVERY = STEPS              # GT / evaluation every key frame (where I_n is the key frame)
TFP_WINDOWS = (7, 21, 41)


def render_scene(height: int = HEIGHT, width: int = WIDTH, frames: int = VIDEO_FRAMES,
                 steps: int = STEPS) -> torch.Tensor:
    """Key frames of the demo scene: float32 (frames, H, W) intensities in [0.02, 0.98].

    Key frame k shows the photograph moved by ``k * steps * SPEED`` pixels and rotated by
    ``SPIN * k / (frames - 1)`` radians about the view's centre, :data:`ZOOM` photo pixels per
    output pixel, sampled bilinearly (:class:`spikekit.simulate.scene.AffineView`), so every
    frame is an exact function of time.
    """
    from skimage import data

    from .simulate.scene import AffineView, rotation

    photo = torch.from_numpy(data.camera().astype(np.float32) / 255.0)[None, None]  # 512 x 512
    ph, pw = photo.shape[-2:]
    k = torch.arange(frames, dtype=torch.float32)
    angle = SPIN * k / max(frames - 1, 1)
    lin = rotation(angle, torch.full_like(angle, ZOOM))[None]  # (1, frames, 2, 2)
    centre = ((pw - 1) / 2 + START[0], (ph - 1) / 2 + START[1])  # photo pixel seen at key frame 0
    shift = torch.stack([centre[0] + SPEED[0] * steps * k, centre[1] + SPEED[1] * steps * k], -1)[None]
    frame = AffineView(height, width, ph, pw).sample(photo, lin, shift)[0]
    return (0.02 + 0.96 * frame).contiguous()


def _panel(image: np.ndarray, label: str) -> np.ndarray:
    """uint8 (H + 18, W) grey panel: a caption strip above the image."""
    from PIL import Image, ImageDraw

    strip = Image.new("L", (image.shape[1], 18), 0)
    ImageDraw.Draw(strip).text((4, 3), label, fill=255)
    return np.concatenate([np.asarray(strip), image], axis=0)


def _row(images: list[np.ndarray], labels: list[str]) -> np.ndarray:
    from .recon.writers import to_uint8

    gap = np.full((HEIGHT + 18, 4), 64, np.uint8)
    panels = [_panel(to_uint8(img), lab) for img, lab in zip(images, labels)]
    return np.concatenate([p for pair in zip(panels, [gap] * len(panels)) for p in pair][:-1], axis=1)


def simulate_scene(out_dir: Path, seed: int = 0) -> dict:
    """Write the demo's spike stream ``out_dir/scene.dat`` (+ sidecar) and its exact GT
    ``out_dir/gt/{n:08d}.npy`` (float32 (H, W) at every key frame); returns the simulator's
    summary (see :func:`spikekit.simulate.simulate_to_file`)."""
    from .simulate.run import simulate_to_file

    out_dir.mkdir(parents=True, exist_ok=True)
    return simulate_to_file(render_scene(), out_dir / "scene.dat", rate=DEFAULT_RATE, steps_per_frame=STEPS, noise="on",
                            seed=seed, gt_dir=out_dir / "gt", gt_every=EVAL_EVERY, gt_format="npy")


def run_demo(out_dir: Path, seed: int = 0, video_fps: float = 6.0) -> list[dict]:
    """Run the whole demo into ``out_dir``; returns the metric rows that were printed."""
    from . import SpikeStream
    from .io import write_image
    from .metrics import psnr, ssim
    from .recon import get_method, method_names, reconstruct
    from .recon.writers import open_writer

    click.echo(f"scene: skimage 'camera' photo moving {SPEED[0]:g}, {SPEED[1]:g} px per spike frame, "
               f"{HEIGHT}x{WIDTH}, {VIDEO_FRAMES} key frames x {STEPS} spike frames")
    summary = simulate_scene(out_dir, seed)
    click.echo(f"simulated {summary['frames']} spike frames at {DEFAULT_RATE:g} Hz (noise on, seed {seed}), "
               f"mean firing rate {summary['mean_firing_rate']:.3f} -> {out_dir / 'scene.dat'} (+ .json)")
    stream = SpikeStream(out_dir / "scene.dat")
    gt = {int(p.stem): np.load(p) for p in sorted((out_dir / "gt").glob("*.npy"))}
    methods = [("tfp", {"window": w}, f"TFP w={w}") for w in TFP_WINDOWS]
    methods += [(name, {}, name.upper()) for name in method_names() if name not in ("tfp",)]
    centres = [n for n in gt if 20 <= n <= len(stream) - 21]
    rows, images = [], {}
    for name, options, label in methods:
        try:
            method = get_method(name)
            started = time.perf_counter()
            recon = reconstruct(method, stream, at=centres, **options).cpu().numpy()
        except (FileNotFoundError, ImportError) as exc:  # e.g. SSML weights not installed
            click.echo(f"skipping {label}: {exc}")
            continue
        seconds = (time.perf_counter() - started) / len(centres)
        images[label] = dict(zip(centres, recon))
        scores = [(psnr(img, gt[n]), ssim(img, gt[n])) for n, img in zip(centres, recon)]
        rows.append({"method": label, "psnr": float(np.mean([s[0] for s in scores])),
                     "ssim": float(np.mean([s[1] for s in scores])), "seconds_per_frame": seconds})
    click.echo(f"\nPSNR / SSIM against the exact GT, mean over {len(centres)} frames "
               f"(spike frames {centres[0]}..{centres[-1]})")
    click.echo(f"{'method':<12} {'PSNR dB':>8} {'SSIM':>7} {'s/frame':>8}")
    for r in rows:
        click.echo(f"{r['method']:<12} {r['psnr']:8.2f} {r['ssim']:7.4f} {r['seconds_per_frame']:8.3f}")

    labels = ["GT", "spikes"] + [r["method"] for r in rows]
    shown = [label for label in labels if label not in ("TFP w=7", "TFP w=21")]

    def composite(n: int) -> np.ndarray:
        spike_frame = stream[n].numpy().astype(np.float32)
        pictures = {"GT": gt[n], "spikes": spike_frame, **{k: v[n] for k, v in images.items()}}
        return _row([pictures[k] for k in shown], [f"{k} @{n}" if k == "GT" else k for k in shown])

    middle = centres[len(centres) // 2]
    write_image(out_dir / "compare.png", composite(middle))
    sheets = [composite(n) for n in centres]
    with open_writer(out_dir / "compare.mp4", len(sheets), *sheets[0].shape, fps=video_fps) as writer:
        writer.write(centres, np.stack(sheets))
    stream.close()
    click.echo(f"\nwrote {out_dir / 'compare.png'} (spike frame {middle}) and {out_dir / 'compare.mp4'} "
               f"({len(sheets)} frames); try any command on {out_dir / 'scene.dat'}, e.g. "
               f"`spikekit info {out_dir / 'scene.dat'}`")
    return rows


@click.command()
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="demo_out", show_default=True,
              help="Output folder.")
@click.option("--seed", type=int, default=0, show_default=True, help="Simulator noise seed.")
@threads_option
def demo(out_dir, seed):
    """Simulate a moving photo with exact GT, reconstruct it with every method, compare."""
    from .cliutils import fail

    started = time.perf_counter()
    try:
        run_demo(Path(out_dir), seed=seed)
    except (OSError, ValueError) as exc:  # e.g. a read-only or full output folder
        fail(exc)
    click.echo(f"demo finished in {time.perf_counter() - started:.0f} s")
