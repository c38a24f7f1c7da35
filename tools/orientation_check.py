"""Can a stream's brightness profile tell whether it is upside down? Measured on every scene we have.

``-m ssml`` used to warn "brighter at the bottom than the upright training scenes: try
--no-flip" when the row index and the row brightness of a window's TFP correlated above +0.5
(issue 29: it fired on an upright real car recording and an upright simulated street video).
This script measures that signal on every upright scene available, and on each turned upside
down, and prints how often a threshold on it would be wrong:

* the spike streams in ``../shared/data`` (REDS-derived streams, the real helicopter
  recording): TFP of 41-frame windows every 20 spike frames;
* the demo stream (``spikekit.demo.simulate_scene``), the same way;
* every frame of the shared videos (street scene, phone call, animated film), luminance;
* the photographs of ``ssml.config.DEFAULT_IMAGES`` (the simulated training scenes).

A scene counts once per source (its frames' mean signal) and once per frame, in two tables.
Turning an image upside down negates the correlation exactly, so a threshold can only trade
false alarms on upright scenes against misses on flipped ones.

    python tools/orientation_check.py [--data ../shared/data] [--threshold 0.5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

WINDOW = 41
EVERY = 20


def row_correlation(image: np.ndarray) -> float:
    """Pearson correlation of the row index (0 = top) with the row mean of ``image`` (H, W);
    0 for an image whose rows are all equally bright."""
    profile = np.asarray(image, dtype=np.float64).mean(1)
    if profile.std() == 0:
        return 0.0
    return float(np.corrcoef(np.arange(len(profile)), profile)[0, 1])


def stream_images(spikes) -> list[np.ndarray]:
    """TFP images (window means) of 41-frame windows every 20 spike frames of (T, H, W) spikes."""
    spikes = np.asarray(spikes)
    return [spikes[s:s + WINDOW].mean(0) for s in range(0, len(spikes) - WINDOW + 1, EVERY)]


def scenes(data: Path) -> dict[str, list[np.ndarray]]:
    """{source name: its upright images} for every source that is present."""
    import tempfile

    from spikekit.demo import simulate_scene
    from spikekit.io import read_dat, read_npz
    from spikekit.simulate.source import open_source
    from ssml.config import DEFAULT_IMAGES
    from ssml.data import load_image

    out = {}
    for path in sorted(data.glob("reds*/spike/*.dat")):
        out[f"stream {path.name}"] = stream_images(read_dat(path).numpy())
    for path in sorted((data / "real").glob("*.npz")):
        out[f"real {path.name}"] = stream_images(read_npz(path).numpy())
    with tempfile.TemporaryDirectory() as tmp:
        simulate_scene(Path(tmp))
        out["demo stream"] = stream_images(read_dat(Path(tmp) / "scene.dat").numpy())
    for path in sorted((data / "video").glob("*.mp4")):
        out[f"video {path.name}"] = [f.numpy() for f in open_source(path).frames()]
    for name in DEFAULT_IMAGES:
        out[f"photo {name}"] = [load_image(name)]
    return out


def measure(sources: dict[str, list[np.ndarray]], threshold: float) -> dict:
    """Per source its mean signal upright and flipped; error rates of ``signal > threshold`` as
    "upside down", per source and per image."""
    rows, upright_img, flipped_img = [], [], []
    for name, images in sources.items():
        up = [row_correlation(im) for im in images]
        down = [row_correlation(im[::-1]) for im in images]
        upright_img += up
        flipped_img += down
        rows.append({"source": name, "images": len(images), "upright": float(np.mean(up)),
                     "flipped": float(np.mean(down)), "upright_alarms": int(np.sum(np.array(up) > threshold)),
                     "flipped_found": int(np.sum(np.array(down) > threshold))})
    up_src = np.array([r["upright"] for r in rows])
    down_src = np.array([r["flipped"] for r in rows])
    rate = lambda x: float(np.mean(x))  # noqa: E731
    return {
        "threshold": threshold,
        "sources": rows,
        "per_source": {"false_alarms_upright": rate(up_src > threshold), "misses_flipped": rate(down_src <= threshold),
                       "error": rate(np.concatenate([up_src > threshold, down_src <= threshold]))},
        "per_image": {"false_alarms_upright": rate(np.array(upright_img) > threshold),
                      "misses_flipped": rate(np.array(flipped_img) <= threshold),
                      "error": rate(np.concatenate([np.array(upright_img) > threshold,
                                                    np.array(flipped_img) <= threshold]))},
        "best_threshold_error": min(
            rate(np.concatenate([up_src > t, down_src <= t])) for t in np.linspace(-1, 1, 201)),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = measure(scenes(args.data), args.threshold)
    print(f"{'source':<42} {'images':>6} {'upright':>8} {'flipped':>8}  alarms upright / found flipped")
    for r in result["sources"]:
        print(f"{r['source'][:42]:<42} {r['images']:>6} {r['upright']:>8.2f} {r['flipped']:>8.2f}  "
              f"{r['upright_alarms']} / {r['flipped_found']}")
    for key in ("per_source", "per_image"):
        e = result[key]
        print(f"{key}: false alarms on upright {e['false_alarms_upright']:.0%}, misses on flipped "
              f"{e['misses_flipped']:.0%}, error {e['error']:.0%} (threshold {args.threshold})")
    print(f"lowest per-source error of any threshold: {result['best_threshold_error']:.0%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
