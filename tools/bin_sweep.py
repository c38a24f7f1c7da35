"""Tune ``--param bin`` (temporal binning of dark streams, src/ssml/binning.py) on tuning data only.

Scores ``-m ssml``/``ssml-lite`` with ``bin=K`` for each K on the dark validation scenes
(``dark_validation`` of ``tools/protocol.py``: the validation GT images panned and simulated) at several
motion speeds and mean firing rates, with TFP-41 beside them; PSNR (dB), SSIM and edge fidelity
(``tools/quality_table.py``). Writes the figures as JSON and, with ``--doc``, a table between the
``<!-- bin-sweep -->`` lines of a markdown file. The test grid is never read.

    python tools/bin_sweep.py --model ssml-lite --bins 1,2,3,4 --doc docs/methods.md
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch

from protocol import dark_validation
from quality_table import DATA, mean, publish, score
from spikekit.recon import get_method
from ssml.binning import choose_bin

MARKERS = ("<!-- bin-sweep -->", "<!-- /bin-sweep -->")


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, and every option's default."""


def numbers(text: str, kind=float) -> list:
    """``"1,2,3"`` -> [1, 2, 3] of ``kind``."""
    return [kind(x) for x in text.split(",") if x.strip()]


def scores(method, cases, **options) -> dict:
    """Mean PSNR, SSIM and edge fidelity of ``method`` over ``cases`` (``quality_table.score``:
    windows centred on the GT frame, mirrored at the ends)."""
    per_case = score(method, options, cases)
    return {key: mean(per_case, key) for key in ("psnr", "ssim", "edges")}


def table(result: dict) -> str:
    """Markdown: one row per (speed, rate), PSNR / edge fidelity per K, TFP-41's edge fidelity."""
    bins = result["bins"]
    lines = [f"`python tools/bin_sweep.py --model {result['model']}` (dark validation scenes, tuning data; "
             "PSNR dB / edge fidelity; **bold**: the K that `bin=auto` picks):", "",
             "| speed px/frame | rate | " + " | ".join(f"K = {k}" for k in bins) + " | TFP-41 edges |",
             "|---|---|" + "---|" * (len(bins) + 1)]
    for row in result["rows"]:
        cells = []
        for k in bins:
            s = row["bins"][str(k)]
            text = f"{s['psnr']:.2f} / {s['edges']:.3f}"
            cells.append(f"**{text}**" if k == row["auto"] else text)
        lines.append(f"| {row['speed']} | {row['rate']} | " + " | ".join(cells) + f" | {row['tfp41']['edges']:.3f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    parser.add_argument("--model", default="ssml-lite", choices=("ssml", "ssml-lite"), help="network")
    parser.add_argument("--weights", default=None, help="weights file (None: the shipped ones)")
    parser.add_argument("--bins", default="1,2,3,4", help="values of K, comma-separated")
    parser.add_argument("--rates", default="0.01,0.02,0.03,0.05,0.08,0.12", help="mean firing rates")
    parser.add_argument("--speeds", default="0.02,0.08,0.2", help="pan speeds, output pixels per spike frame")
    parser.add_argument("--json-out", default="bench_out/bin_sweep.json", help="where the figures go")
    parser.add_argument("--doc", type=Path, help="markdown file with the bin-sweep marker lines to update")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")  # dark inputs trip the unfamiliar-input check at K = 1 on purpose
    method, tfp = get_method(args.model), get_method("tfp")
    bins = numbers(args.bins, int)
    rows = []
    for speed in numbers(args.speeds):
        for rate in numbers(args.rates):
            cases = dark_validation(DATA, speed=speed, rate=rate)
            row = {"speed": speed, "rate": rate, "auto": choose_bin(rate),
                   "tfp41": scores(tfp, cases, window=41),
                   "bins": {str(k): scores(method, cases, bin=k, weights=args.weights) for k in bins}}
            print(f"speed {speed} rate {rate}: " + ", ".join(
                f"K={k} {s['psnr']:.2f} dB / {s['edges']:.3f}" for k, s in row["bins"].items()), flush=True)
            rows.append(row)
    result = {"model": args.model, "weights": args.weights, "bins": bins, "rows": rows}
    publish(result, args.json_out, table(result), args.doc, MARKERS)


if __name__ == "__main__":
    main()
