"""The README's quality table: PSNR/SSIM of every method on the validation streams, and seconds
per 250x400 frame on this machine.

Validation (never used for training): ../shared/data/reds301/spike/200_part1 at spike frame 150
and reds41/spike/000_part1 at its five GT keys (key_idK is centred on spike frame K-1); each
method's window is centred on the GT index, scale 1/0.6, PSNR/SSIM with data range 1 (the same
computation as `spikekit eval --pad reflect`). The reds41 file has only 41 spike frames, so a
41-frame window around a key other than 21 runs past an end of the stream: every method reads the
stream mirrored there (`--pad reflect`, see spikekit.recon.padding), which keeps the window
centred on the GT instant.

    python tools/quality_table.py [--weights W] [--json-out bench_out/quality.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from spikekit import SpikeStream
from spikekit.metrics import load_gt, psnr, ssim
from spikekit.recon import get_method, reconstruct

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CASES = [("200_part1 @150", "reds301/spike/200_part1_key_id151.dat", "reds301/gt/200_part1_key_id151.png", 150)] + [
    (f"000_part1 @{k - 1}", "reds41/spike/000_part1_key_id21.dat", f"reds41/gt/000_part1_key_id{k}.png", k - 1)
    for k in (7, 14, 21, 28, 35)]
METHODS = [("TFP w=7", "tfp", {"window": 7}), ("TFP w=21", "tfp", {"window": 21}),
           ("TFP w=41", "tfp", {"window": 41}), ("TFI", "tfi", {}), ("TFSTP", "tfstp", {}),
           ("SSML (ours)", "ssml", {}), ("SSML, no anchoring", "ssml", {"anchor": 0})]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default=None, help="SSML weights (default: the shipped ones)")
    parser.add_argument("--json-out", default="bench_out/quality.json")
    args = parser.parse_args()
    rows = []
    for label, name, options in METHODS:
        if name == "ssml":
            options = dict(options, weights=args.weights)
        method, scores, seconds = get_method(name), [], []
        for case, dat, gt, index in CASES:
            with SpikeStream(DATA / dat) as stream:
                started = time.perf_counter()
                image = reconstruct(method, stream, at=index, pad="reflect", **options).cpu().numpy()
                seconds.append(time.perf_counter() - started)
            truth = load_gt(DATA / gt)
            scores.append({"case": case, "psnr": psnr(image, truth), "ssim": ssim(image, truth)})
        rows.append({"method": label, "cases": scores, "mean_psnr": float(np.mean([s["psnr"] for s in scores])),
                     "mean_ssim": float(np.mean([s["ssim"] for s in scores])),
                     "seconds_per_frame": float(np.median(seconds))})
    cases = [c[0] for c in CASES]
    print("| method | " + " | ".join(cases) + " | mean | s / frame |")
    print("|---|" + "---|" * (len(cases) + 2))
    for r in rows:
        cells = [f"{s['psnr']:.2f} / {s['ssim']:.3f}" for s in r["cases"]]
        print(f"| {r['method']} | " + " | ".join(cells) +
              f" | **{r['mean_psnr']:.2f} / {r['mean_ssim']:.3f}** | {r['seconds_per_frame']:.3g} |")
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps({"cases": cases, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
