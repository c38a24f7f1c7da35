"""The quality tables of the model cards: PSNR/SSIM of every method on the validation cases and on
the held-out test grid (tools/protocol.py), and seconds per 250x400 frame on this machine.

Validation cases choose runs (tuning data); the test grid is simulated from material no training
run sees and is never used to choose anything (see tools/protocol.py). Every method's window is
centred on the GT index; scale 1/0.6; PSNR/SSIM with data range 1; the reds41 keys whose 41-frame
window runs past that 41-frame stream read it mirrored (`--pad reflect`, spikekit.recon.padding).

    python tools/quality_table.py                          # shipped models, print + JSON
    python tools/quality_table.py --model "run A=ssml-lite:runs/a" --no-test
    python tools/quality_table.py --card src/ssml/weights/MODEL_CARD.md --card src/ssml/weights/MODEL_CARD_lite.md

``--model LABEL=METHOD[:WEIGHTS][,NAME=VALUE...]`` adds a row (repeatable; the NAME=VALUE items
are the method's ``--param`` options, e.g. ``"lite unbinned=ssml-lite,bin=1"``; default: the
shipped ``ssml`` and, when its file exists, ``ssml-lite``, each also with ``ensemble=8`` and
``bin=1``). ``--card FILE`` rewrites the part of FILE between the
``<!-- quality-table -->`` and ``<!-- /quality-table -->`` lines with the tables. ``--offset K``
centres every window K spike frames after the GT index (a check of the data's timing convention).
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from protocol import (DARK_RATE, LIGHTS, NOISES, SPEEDS, at_stream_start, dark_validation, test_grid,
                      validation_cases)
from spikekit import SpikeStream
from spikekit.metrics import psnr, ssim
from spikekit.recon import get_method, reconstruct
from ssml.weights_io import LITE_WEIGHTS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASSIC = [("TFP w=7", "tfp", {"window": 7}), ("TFP w=21", "tfp", {"window": 21}),
           ("TFP w=41", "tfp", {"window": 41}), ("TFI", "tfi", {}), ("TFSTP", "tfstp", {})]
BEST = "best classic (per case)"
MARKERS = ("<!-- quality-table -->", "<!-- /quality-table -->")
AXES = [("speed", list(SPEEDS)), ("light", list(LIGHTS)), ("noise", list(NOISES))]
REAL_FRAMES = (60, 100, 139)
SPEC = "METHOD[:WEIGHTS][,NAME=VALUE...]"
"""The form of a network spec (``--model`` of tools/foreign_estimate.py)."""
ROW = f"LABEL={SPEC}"
"""The form of a ``--model`` row here."""


def parse_model(text: str) -> tuple[str, str, dict]:
    """``LABEL=METHOD[:WEIGHTS][,NAME=VALUE...]`` -> (label, method, options), as :func:`parse_spec`."""
    label, sep, spec = text.partition("=")
    if not sep:
        raise SystemExit(f"--model {text!r}: expected {ROW}")
    return (label, *parse_spec(spec, text, ROW))


def parse_spec(spec: str, text: str | None = None, form: str = SPEC) -> tuple[str, dict]:
    """``METHOD[:WEIGHTS][,NAME=VALUE...]`` -> (method, options); each VALUE is read as the type of
    the method's option NAME (``spikekit recon --param``). ``text`` and ``form``: the whole
    ``--model`` value and its expected form, for the error message.

    Raises:
        SystemExit: an empty method, an item without ``NAME=VALUE``, an unknown method or option.
    """
    from spikekit.recon.options import parse_params

    text = spec if text is None else text
    spec, *items = spec.split(",")
    params = dict(item.partition("=")[::2] for item in items)
    if not spec or any(not k or not v for k, v in params.items()):
        raise SystemExit(f"--model {text!r}: expected {form}")
    method, _, weights = spec.partition(":")
    try:
        options = parse_params(get_method(method).options, params, method, exclude=("weights",))
    except (KeyError, ValueError) as e:
        raise SystemExit(f"--model {text!r}: {e}") from None
    return method, {"weights": weights or None, **options}


def default_rows() -> list[tuple[str, str, dict]]:
    """The shipped networks (``ssml-lite`` when its file exists) as ``recon`` runs them, then each
    with the 8-fold self-ensemble and without dark-stream binning (src/ssml/ensemble.py, src/ssml/binning.py)."""
    lite = LITE_WEIGHTS.is_file()
    nets = [("SSML", "ssml")] + ([("SSML-lite", "ssml-lite")] if lite else [])
    return ([(f"{label} (shipped)", name, {}) for label, name in nets]
            + [(f"{label}, self-ensemble x8", name, {"ensemble": 8}) for label, name in nets]
            + [(f"{label}, no binning", name, {"bin": 1}) for label, name in nets])


def score(method, options, cases, offset: int = 0) -> list[dict]:
    """PSNR/SSIM (and seconds) of one method on each case, its window centred ``offset`` spike
    frames after the case's GT index."""
    out = []
    for case in cases:
        with (SpikeStream(case.spikes) if isinstance(case.spikes, Path) else nullcontext(case.spikes)) as spikes:
            started = time.perf_counter()
            image = reconstruct(method, spikes, at=case.index + offset, pad="reflect", **options).cpu().numpy()
            seconds = time.perf_counter() - started
        out.append({"case": case.name, **case.cell, "psnr": psnr(image, case.gt),
                    "ssim": ssim(image, case.gt), "edges": edge_fidelity(image, case.gt),
                    "seconds": seconds, "pixels": int(image.size)})
    return out


def edge_fidelity(image: np.ndarray, gt: np.ndarray) -> float:
    """How much of the ground truth's edges an image keeps: sum(g_img . g_gt) / sum(g_gt . g_gt)
    over Sobel gradients (1: as sharp as the GT; below 1: blurrier). Noise that is uncorrelated
    with the GT's edges averages out of the numerator, so a noisy image does not score as sharp."""
    from scipy import ndimage

    g = [np.stack([ndimage.sobel(x.astype(np.float64), axis=a) for a in (0, 1)]) for x in (image, gt)]
    return float((g[0] * g[1]).sum() / max((g[1] * g[1]).sum(), 1e-12))


def real_images(method, options, frames=REAL_FRAMES) -> dict:
    """One method's images (float32 (len(frames), H, W), ``--scale auto``: the recordings are
    dark) of each real recording in ../shared/data/real: {name: images}."""
    from spikekit import read_npz

    return {path.stem: reconstruct(method, read_npz(path), at=list(frames), scale="auto", pad="reflect",
                                   **options).cpu().numpy()
            for path in sorted((DATA / "real").glob("*.npz"))}


def write_real_panels(rows: list[dict], folder: Path) -> list[Path]:
    """bench_out/real_<name>.png: each method's images of a real recording side by side (one
    column per method in table order, one row per frame), to look at beside the NIQE column."""
    from spikekit.io import write_image

    written = []
    for name in (rows[0]["real"] if rows else {}):
        grid = np.concatenate([np.concatenate([r["real"][name][i] for r in rows if "real" in r], 1)
                               for i in range(len(REAL_FRAMES))], 0)
        path = folder / f"real_{name}.png"
        write_image(path, np.round(grid.clip(0, 1) * 255).astype(np.uint8))
        written.append(path)
    return written


def best_row(rows: list[dict], key: str) -> list[dict]:
    """Per case of ``row[key]``, the best PSNR (and the best SSIM, edge fidelity) of the classic rows."""
    classic = [r[key] for r in rows if r["classic"]]
    return [{**cases[0], "psnr": max(c["psnr"] for c in cases), "ssim": max(c["ssim"] for c in cases),
             "edges": max(c["edges"] for c in cases), "seconds": float("nan")} for cases in zip(*classic)]


def mean(scores, key="psnr", **where) -> float:
    vals = [s[key] for s in scores if all(s.get(k) == v for k, v in where.items())]
    return float(np.mean(vals)) if vals else float("nan")


def tables(result: dict) -> str:
    """The markdown tables of a result (validation, dark validation, then test marginals)."""
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
    if result["rows"][0].get("dark"):
        lines += ["", f"Dark validation (tuning data: the validation GT images panned at {SPEEDS['medium']} px per "
                  f"spike frame and simulated at a mean firing rate of {DARK_RATE}, `dark_validation` in tools/protocol.py; "
                  "edge fidelity: the image's Sobel gradients projected on the GT's, 1 = as sharp as the GT, "
                  "lower = blurrier):", "", "| method | PSNR dB / SSIM | edge fidelity |", "|---|---|---|"]
        for r in result["rows"]:
            lines.append(f"| {r['label']} | {cell(r['dark'])} | {mean(r['dark'], 'edges'):.3f} |")
    if result["rows"][0].get("test"):
        heads = [f"{axis} {value}" for axis, values in AXES for value in values]
        lines += ["", f"Test grid (held out, never used to choose anything; {result['test_cases']} scenes, "
                  "each column the mean over the cells with that value; PSNR dB / SSIM; last column: the "
                  "same scenes with the GT frame 0-19 spike frames after the stream's first frame, the "
                  "window read mirrored there, `at_stream_start` in tools/protocol.py):", "",
                  "| method | " + " | ".join(heads) + " | mean | at stream start |",
                  "|---|" + "---|" * (len(heads) + 2)]
        for r in result["rows"]:
            t = r["test"]
            start = cell(r["test_start"]) if r.get("test_start") else ""
            lines.append(f"| {r['label']} | " + " | ".join(cell(t, **{axis: value}) for axis, values in AXES
                                                         for value in values) + f" | **{cell(t)}** | {start} |")
        lines += ["", "Dark scenes and real recordings: edge fidelity on the test grid's dark cells (mean "
                  "firing rate 0.02; the image's Sobel gradients projected on the GT's, 1 = as sharp as the "
                  "GT, lower = blurrier) and NIQE of the real recording(s) in `../shared/data/real` (no GT; "
                  f"lower is better; frames {', '.join(map(str, REAL_FRAMES))}, `--scale auto`; the images are "
                  "in `bench_out/real_*.png`, one column per method):", "",
                  "| method | edge fidelity, dark | edge fidelity, all | " + " | ".join(
                      f"NIQE {n}" for n in result["real"]) + " |", "|---|---|---|" + "---|" * len(result["real"])]
        for r in result["rows"]:
            niqe = [f"{r['niqe'][n]:.2f}" if n in r.get("niqe", {}) else "" for n in result["real"]]
            lines.append(f"| {r['label']} | {mean(r['test'], 'edges', light='dark'):.3f} | "
                         f"{mean(r['test'], 'edges'):.3f} | " + " | ".join(niqe) + " |")
    return "\n".join(lines) + "\n"


def write_card(path: Path, text: str, markers=MARKERS) -> None:
    """Replace the part of a model card between the two ``markers`` lines (they must be there)."""
    from spikekit.io import atomic_output

    body = path.read_text()
    start, end = body.find(markers[0]), body.find(markers[1])
    if start < 0 or end < start:
        raise SystemExit(f"{path}: no {markers[0]} ... {markers[1]} lines to write the table between")
    body = body[:start + len(markers[0])] + "\n" + text + body[end:]
    with atomic_output(path) as tmp:
        tmp.write_text(body)


def publish(result: dict, json_out, text: str, doc: Path | None = None, markers=MARKERS) -> None:
    """Write ``result`` as JSON to ``json_out`` (atomically; its folder made) and, with ``doc``,
    ``text`` between the ``markers`` lines of that markdown file; print ``text``."""
    from spikekit.io import atomic_output

    out = Path(json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n")
    if doc:
        write_card(doc, text, markers)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar=ROW,
                        help="a row (repeatable; NAME=VALUE: the method's --param options); default: the shipped "
                             "ssml and ssml-lite, each also with ensemble=8 and with bin=1")
    parser.add_argument("--no-classic", action="store_true", help="only the --model rows")
    parser.add_argument("--no-test", action="store_true", help="validation cases only")
    parser.add_argument("--card", action="append", default=[], type=Path, help="model card to update")
    parser.add_argument("--json-out", default="bench_out/quality.json")
    parser.add_argument("--offset", type=int, default=0,
                        help="centre every window this many spike frames after the GT index (a timing check; "
                             "the cards' tables use 0)")
    args = parser.parse_args()
    if args.card and args.offset:
        parser.error("--card takes the tables of --offset 0 only")
    models = [parse_model(m) for m in args.model] or default_rows()
    validation = validation_cases(DATA)
    dark = dark_validation(DATA)
    test = [] if args.no_test else test_grid(DATA)
    test_start = [] if args.offset else at_stream_start(test)  # an offset could run before frame 0 there
    rows = []
    runs = [(True, c) for c in ([] if args.no_classic else CLASSIC)] + [(False, m) for m in models]
    for classic, (label, name, options) in runs:
        method = get_method(name)
        row = {"label": label, "method": name, "options": {k: v for k, v in options.items() if v is not None},
               "classic": classic,
               "validation": score(method, options, validation, args.offset),
               "dark": score(method, options, dark, args.offset),
               "test": score(method, options, test, args.offset),
               "test_start": score(method, options, test_start, args.offset)}
        if test:
            from spikekit.noref import niqe

            row["real"] = real_images(method, options)
            row["niqe"] = {k: float(np.mean([niqe(x) for x in v])) for k, v in row["real"].items()}
        full = [s["seconds"] for s in row["validation"] if s["pixels"] == 250 * 400]
        row["seconds_per_frame"] = float(np.median(full)) if full else None
        rows.append(row)
        print(f"{label}: validation {mean(row['validation']):.2f} dB, dark validation edge fidelity "
              f"{mean(row['dark'], 'edges'):.3f}"
              + (f", test {mean(row['test']):.2f} dB" if test else "")
              + (f", at stream start {mean(row['test_start']):.2f} dB" if test_start else ""), flush=True)
    if not args.no_classic:
        rows.insert(len(CLASSIC), {"label": BEST, "method": None, "options": {}, "classic": False,
                                   "validation": best_row(rows, "validation"), "dark": best_row(rows, "dark"),
                                   "test": best_row(rows, "test"),
                                   "test_start": best_row(rows, "test_start"),
                                   "seconds_per_frame": None})
    result = {"validation_cases": [c.name for c in validation], "test_cases": len(test), "rows": rows,
              "real": sorted(p.stem for p in (DATA / "real").glob("*.npz"))}
    text = tables(result)
    print("\n" + text)
    Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    panels = write_real_panels([r for r in rows if "real" in r], Path(args.json_out).parent)
    for r in rows:
        r.pop("real", None)
    Path(args.json_out).write_text(json.dumps(result, indent=1) + "\n")
    print("columns of " + ", ".join(map(str, panels)) + ": " + ", ".join(r["label"] for r in rows if "niqe" in r))
    for card in args.card:
        write_card(card, text)


if __name__ == "__main__":
    main()
