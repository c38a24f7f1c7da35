"""The quality tables of the model cards: PSNR/SSIM of every method on the validation cases and on
the held-out test grid (ssml.evaluation), and seconds per 250x400 frame on this machine.

Validation cases choose runs (tuning data); the test grid is simulated from material no training
run sees and is never used to choose anything (see ssml/evaluation.py). Every method's window is
centred on the GT index; scale 1/0.6; PSNR/SSIM with data range 1; the reds41 keys whose 41-frame
window runs past that 41-frame stream read it mirrored (`--pad reflect`, spikekit.recon.padding).

    python tools/quality_table.py                          # shipped models, print + JSON
    python tools/quality_table.py --model "run A=ssml-lite:runs/a" --no-test
    python tools/quality_table.py --card ssml/weights/MODEL_CARD.md --card ssml/weights/MODEL_CARD_lite.md

``--model LABEL=METHOD[:WEIGHTS]`` adds a row (repeatable; default: the shipped ``ssml`` and,
when its file exists, ``ssml-lite``). ``--card FILE`` rewrites the part of FILE between the
``<!-- quality-table -->`` and ``<!-- /quality-table -->`` lines with the tables.
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from spikekit import SpikeStream
from spikekit.metrics import psnr, ssim
from spikekit.recon import get_method, reconstruct
from ssml.evaluation import LIGHTS, NOISES, SPEEDS, test_grid, validation_cases
from ssml.weights_io import LITE_WEIGHTS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASSIC = [("TFP w=7", "tfp", {"window": 7}), ("TFP w=21", "tfp", {"window": 21}),
           ("TFP w=41", "tfp", {"window": 41}), ("TFI", "tfi", {}), ("TFSTP", "tfstp", {})]
BEST = "best classic (per case)"
MARKERS = ("<!-- quality-table -->", "<!-- /quality-table -->")
AXES = [("speed", list(SPEEDS)), ("light", list(LIGHTS)), ("noise", list(NOISES))]


def parse_model(text: str) -> tuple[str, str, dict]:
    """``LABEL=METHOD[:WEIGHTS]`` -> (label, method, options)."""
    label, sep, spec = text.partition("=")
    if not sep:
        raise SystemExit(f"--model {text!r}: expected LABEL=METHOD[:WEIGHTS]")
    method, _, weights = spec.partition(":")
    return label, method, {"weights": weights or None}


def score(method, options, cases) -> list[dict]:
    """PSNR/SSIM (and seconds) of one method on each case."""
    out = []
    for case in cases:
        with (SpikeStream(case.spikes) if isinstance(case.spikes, Path) else nullcontext(case.spikes)) as spikes:
            started = time.perf_counter()
            image = reconstruct(method, spikes, at=case.index, pad="reflect", **options).cpu().numpy()
            seconds = time.perf_counter() - started
        out.append({"case": case.name, **case.cell, "psnr": psnr(image, case.gt),
                    "ssim": ssim(image, case.gt), "seconds": seconds, "pixels": int(image.size)})
    return out


def best_row(rows: list[dict]) -> list[dict]:
    """Per case, the best PSNR (and the best SSIM) of the classic methods."""
    classic = [r["scores"] for r in rows if r["classic"]]
    return [{**cases[0], "psnr": max(c["psnr"] for c in cases), "ssim": max(c["ssim"] for c in cases),
             "seconds": float("nan")} for cases in zip(*classic)]


def mean(scores, key="psnr", **where) -> float:
    vals = [s[key] for s in scores if all(s.get(k) == v for k, v in where.items())]
    return float(np.mean(vals)) if vals else float("nan")


def tables(result: dict) -> str:
    """The markdown tables of a result (validation, then test marginals)."""
    cell = lambda scores, **w: f"{mean(scores, **w):.2f} / {mean(scores, 'ssim', **w):.3f}"
    lines = ["Validation (tuning data: runs were chosen by it; PSNR dB / SSIM):", ""]
    names = result["validation_cases"]
    lines += ["| method | " + " | ".join(names) + " | mean | s / 250x400 frame |",
              "|---|" + "---|" * (len(names) + 2)]
    for r in result["rows"]:
        v = r["validation"]
        sec = "" if r["seconds_per_frame"] is None else f"{r['seconds_per_frame']:.3g}"
        lines.append(f"| {r['label']} | " + " | ".join(cell(v, case=n) for n in names)
                     + f" | **{cell(v)}** | {sec} |")
    if result["rows"][0].get("test"):
        heads = [f"{axis} {value}" for axis, values in AXES for value in values]
        lines += ["", f"Test grid (held out, never used to choose anything; {result['test_cases']} scenes, "
                  "each column the mean over the cells with that value; PSNR dB / SSIM):", "",
                  "| method | " + " | ".join(heads) + " | mean |", "|---|" + "---|" * (len(heads) + 1)]
        for r in result["rows"]:
            t = r["test"]
            lines.append(f"| {r['label']} | " + " | ".join(cell(t, **{axis: value}) for axis, values in AXES
                                                         for value in values) + f" | **{cell(t)}** |")
    return "\n".join(lines) + "\n"


def write_card(path: Path, text: str) -> None:
    """Replace the marked part of a model card (the markers must be there)."""
    from spikekit.io import atomic_output

    body = path.read_text()
    start, end = body.find(MARKERS[0]), body.find(MARKERS[1])
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no {MARKERS[0]} ... {MARKERS[1]} lines to write the table between")
    body = body[:start + len(MARKERS[0])] + "\n" + text + body[end:]
    with atomic_output(path) as tmp:
        tmp.write_text(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=METHOD[:WEIGHTS]")
    parser.add_argument("--no-classic", action="store_true", help="only the --model rows")
    parser.add_argument("--no-test", action="store_true", help="validation cases only")
    parser.add_argument("--card", action="append", default=[], type=Path, help="model card to update")
    parser.add_argument("--json-out", default="bench_out/quality.json")
    args = parser.parse_args()
    models = [parse_model(m) for m in args.model] or (
        [("SSML (shipped)", "ssml", {})] + ([("SSML-lite (shipped)", "ssml-lite", {})] if LITE_WEIGHTS.is_file() else []))
    validation = validation_cases(DATA)
    test = [] if args.no_test else test_grid(DATA)
    rows = []
    for label, name, options in ([] if args.no_classic else CLASSIC) + models:
        method = get_method(name)
        row = {"label": label, "method": name, "options": {k: v for k, v in options.items() if v is not None},
               "classic": (label, name, options) in CLASSIC,
               "validation": score(method, options, validation), "test": score(method, options, test)}
        full = [s["seconds"] for s in row["validation"] if s["pixels"] == 250 * 400]
        row["seconds_per_frame"] = float(np.median(full)) if full else None
        rows.append(row)
        print(f"{label}: validation {mean(row['validation']):.2f} dB"
              + (f", test {mean(row['test']):.2f} dB" if test else ""), flush=True)
    if not args.no_classic:
        rows.insert(len(CLASSIC), {"label": BEST, "method": None, "options": {}, "classic": False,
                                   "validation": best_row([r | {"scores": r["validation"]} for r in rows]),
                                   "test": best_row([r | {"scores": r["test"]} for r in rows]) if test else [],
                                   "seconds_per_frame": None})
    result = {"validation_cases": [c.name for c in validation], "test_cases": len(test), "rows": rows}
    text = tables(result)
    print("\n" + text)
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json_out).write_text(json.dumps(result, indent=1) + "\n")
    for card in args.card:
        write_card(card, text)


if __name__ == "__main__":
    main()
