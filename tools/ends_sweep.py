"""Tune where ``-m ssml`` reads windows with its ends weights (``--param ends``, src/ssml/method.py), on
tuning data only.

The validation stream 200_part1 is cut so that its GT frame lies d spike frames after the cut
stream's first frame ("head") or before its last ("tail"), for each d; every window is centred
on the GT frame and mirrored past the end (``--pad reflect``). Scores the shipped weights alone
and the ends weights alone at each d (PSNR dB / SSIM, ``tools/quality_table.py``); ``-m ssml``
reads with the ends weights where d < ``ssml.method.ENDS_REACH`` (bold). Writes the figures as
JSON and, with ``--doc``, a table between the ``<!-- ends-sweep -->`` lines of a markdown file.
The test grid is never read.

    python tools/ends_sweep.py --doc src/ssml/weights/MODEL_CARD.md
    python tools/ends_sweep.py --ends runs/e/last.pt --distances 0,3,6,9
"""
from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import torch

from protocol import validation_cases
from quality_table import DATA, mean, publish, score
from spikekit import read_dat
from spikekit.recon import get_method
from ssml.method import ENDS_REACH
from ssml.networks import WINDOW
from ssml.weights_io import ENDS_WEIGHTS

MARKERS = ("<!-- ends-sweep -->", "<!-- /ends-sweep -->")
STREAM = "200_part1 @150"
"""The validation case cut at each distance: the one whose stream reaches 20 frames past its GT
frame on both sides (000_part1 is 41 frames long; its keys already lie 6-20 frames from an end)."""


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and every option's default."""


def cut_cases(distances) -> list:
    """The :data:`STREAM` case cut at each distance: ``head{d}`` (GT frame d frames after the
    first frame) and ``tail{d}`` (d frames before the last); spikes uint8 (T', H, W)."""
    case = next(c for c in validation_cases(DATA) if c.name == STREAM)
    spikes = read_dat(case.spikes)
    out = []
    for d in distances:
        out.append(dataclasses.replace(case, name=f"head{d}", spikes=spikes[case.index - d:], index=d,
                                       cell={"d": d, "side": "head"}))
        out.append(dataclasses.replace(case, name=f"tail{d}", spikes=spikes[:case.index + d + 1],
                                       cell={"d": d, "side": "tail"}))
    return out


def table(result: dict) -> str:
    """Markdown: one row per distance, PSNR / SSIM (mean of head and tail) of each network."""
    lines = [f"`python tools/ends_sweep.py` (200_part1 cut d spike frames from its GT frame, tuning data; "
             f"PSNR dB / SSIM, mean of the stream's start and end; **bold**: what `-m ssml` reads, "
             f"the ends weights where d < {result['reach']}):", "",
             "| d | shipped weights alone | ends weights alone |", "|---|---|---|"]
    for row in result["rows"]:
        cells = [f"{row[k]['psnr']:.2f} / {row[k]['ssim']:.3f}" for k in ("main", "ends")]
        cells[int(row["d"] < result["reach"])] = f"**{cells[int(row['d'] < result['reach'])]}**"
        lines.append(f"| {row['d']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--weights", default=None, help="main weights (None: the shipped ones)")
    parser.add_argument("--ends", default=str(ENDS_WEIGHTS), help="ends weights")
    parser.add_argument("--distances", default=",".join(map(str, range(WINDOW // 2 + 1))),
                        help="distances d in spike frames, comma-separated")
    parser.add_argument("--json-out", default="bench_out/ends_sweep.json", help="where the figures go")
    parser.add_argument("--doc", type=Path, help="markdown file with the ends-sweep marker lines to update")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    distances = [int(x) for x in args.distances.split(",") if x.strip()]
    cases, method = cut_cases(distances), get_method("ssml")
    per_net = {name: score(method, {"weights": w, "ends": "off"}, cases)
               for name, w in (("main", args.weights), ("ends", args.ends))}
    rows = []
    for d in distances:
        row = {"d": d}
        for name, scored in per_net.items():
            mine = [s for s in scored if s["d"] == d]
            row[name] = {key: mean(mine, key) for key in ("psnr", "ssim")}
        print(f"d={d}: main {row['main']['psnr']:.2f} dB, ends {row['ends']['psnr']:.2f} dB", flush=True)
        rows.append(row)
    result = {"weights": args.weights, "ends": args.ends, "reach": ENDS_REACH, "rows": rows}
    publish(result, args.json_out, table(result), args.doc, MARKERS)


if __name__ == "__main__":
    main()
