r"""The foreign estimate (issue 30): how a network does on REDS-derived streams that it was neither
trained on nor chosen by, beside its validation figure.

The REDS-derived streams in ../shared/data come from another group's simulator. Two are
validation cases (runs are chosen by them, tools/protocol.py); the other two,
``protocol.FOREIGN``, are the only ones a run may take as GT pairs (``spikekit train --pair``).
The estimate is leave-one-stream-out: for each foreign case, a run whose pairs leave that stream
out (everything else as in the recipe) is scored on it; the estimate is the mean over the cases.
It is printed beside the validation mean of the network trained on all pairs, and their gap. A
network trained with no pairs (``--left-out`` not given) saw none of them, so it is scored on
every foreign case with its own weights.

    python tools/foreign_estimate.py --label ssml-lite --model ssml-lite:src/ssml/weights/ssml_lite.pt \
        --left-out "203_part2 @150=runs/loo_p3/step_0003000.pt" --left-out "203_part3 @150=runs/loo_p2/step_0003000.pt"
    python tools/foreign_estimate.py --label "lite, no pairs" --model ssml-lite:runs/lite_s1 --card CARD

Rows are kept by label in ``--json-out`` (default bench_out/foreign.json), so each call adds or
replaces one (without ``--label``/``--model`` the JSON's rows are only rendered); ``--card FILE``
writes the table between the ``<!-- foreign-estimate -->`` lines.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from protocol import FOREIGN, validation_cases
from quality_table import DATA, SPEC, parse_spec, publish, score
from spikekit.recon import get_method

MARKERS = ("<!-- foreign-estimate -->", "<!-- /foreign-estimate -->")


def estimate(method: str, options: dict, left_out: dict, data: Path = DATA) -> dict:
    """One row: PSNR/SSIM on each foreign case (with the weights of ``left_out[case]`` where given,
    else ``options['weights']``), the foreign mean, the validation mean of ``options``, the gap.

    Raises:
        SystemExit: a ``left_out`` key that is not a foreign case.
    """
    foreign = validation_cases(data, FOREIGN, "foreign")
    unknown = set(left_out) - {c.name for c in foreign}
    if unknown:
        raise SystemExit(f"--left-out {sorted(unknown)}: expected one of {[c.name for c in foreign]}")
    impl = get_method(method)
    cases = [score(impl, {**options, "weights": left_out.get(c.name, options["weights"])}, [c])[0] for c in foreign]
    valid = score(impl, options, validation_cases(data))
    row = {"method": method, "options": {k: v for k, v in options.items() if v is not None},
           "left_out": left_out, "foreign": cases, "validation": valid,
           "foreign_mean": float(np.mean([c["psnr"] for c in cases])),
           "validation_mean": float(np.mean([c["psnr"] for c in valid]))}
    row["gap"] = row["validation_mean"] - row["foreign_mean"]
    return row


def table(rows: dict) -> str:
    """The markdown table of the rows (label -> :func:`estimate` row)."""
    names = [name for name, *_ in FOREIGN]
    head = ("| network | " + " | ".join(names) + " | foreign estimate | validation mean | gap |\n|---|"
            + "---|" * (len(names) + 3))
    lines = [head]
    for label, r in rows.items():
        by = {c["case"]: c for c in r["foreign"]}
        cells = [f"{by[n]['psnr']:.2f} / {by[n]['ssim']:.3f}" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | **{r['foreign_mean']:.2f}** | {r['validation_mean']:.2f} | {r['gap']:.2f} |")
    return ("Foreign estimate (`python tools/foreign_estimate.py`; PSNR dB / SSIM; each foreign case scored "
            "by a run whose GT pairs left that stream out, or by a run with no pairs; validation mean: the "
            "row's `--model` network; gap = validation - foreign):\n\n" + "\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", help="the row's name in the table (without it and --model: only render the JSON)")
    parser.add_argument("--model", metavar=SPEC,
                        help="the network trained on all pairs (or on none), as tools/quality_table.py --model")
    parser.add_argument("--left-out", action="append", default=[], metavar="CASE=WEIGHTS",
                        help="the weights of the run that left CASE (e.g. '203_part2 @150') out of its pairs")
    parser.add_argument("--json-out", default="bench_out/foreign.json", type=Path)
    parser.add_argument("--card", type=Path, help="model card to write the table into")
    args = parser.parse_args()
    if (args.label is None) != (args.model is None):
        parser.error("--label and --model go together")
    rows = json.loads(args.json_out.read_text())["rows"] if args.json_out.is_file() else {}
    if args.model:
        method, options = parse_spec(args.model)
        left_out = dict(item.rpartition("=")[::2] for item in args.left_out)
        if any(not k or not v for k, v in left_out.items()):
            parser.error("--left-out: expected CASE=WEIGHTS")
        rows[args.label] = estimate(method, options, left_out)
    publish({"rows": rows}, args.json_out, table(rows), args.card, MARKERS)


if __name__ == "__main__":
    main()
