"""What each training ingredient adds: a model card's ablation table, written from measured JSON.

Training runs do not survive a session, so what one measured is recorded into a JSON file beside
the card (``record``), and the card's table is rendered from that file (``render``), never typed.

    python tools/ablation_table.py record --json src/ssml/weights/ablations_lite.json \\
        --label "photographs only" --run runs/abl_photos --step 2000 --reference runs/lite1 \\
        [--quality bench_out/quality.json --row LABEL]
    python tools/ablation_table.py render --json src/ssml/weights/ablations_lite.json \\
        --card src/ssml/weights/MODEL_CARD_lite.md

``record`` reads the run's ``config.yaml`` (the settings that differ from ``--reference``'s, and
``init``) and the trainer's validation PSNRs at ``--step`` (default: the last) from its
``log.csv``; ``--quality`` adds that run's row of a ``tools/quality_table.py`` JSON (validation
mean over all six cases, test-grid mean, its mean at stream start, dark-cell edge fidelity). An
entry of the same label is replaced. ``render`` rewrites the part of the card between ``<!-- ablation-table -->`` and
``<!-- /ablation-table -->``.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import yaml

from quality_table import mean, write_card
from ssml.config import RUN_KEYS

MARKERS = ("<!-- ablation-table -->", "<!-- /ablation-table -->")
IGNORED = {*RUN_KEYS, "seed", "init"}
"""Config keys that do not change what a run learns (:data:`ssml.config.RUN_KEYS`), or are shown in
their own column."""


def _names(value):
    """A setting with file paths reduced to their names (runs store them absolute or relative)."""
    if isinstance(value, dict):
        return {k: _names(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_names(v) for v in value]
    if isinstance(value, str) and "/" in value:  # a path, or DAT:GT_PNG:INDEX (--pair, --val)
        from ssml.cases import map_paths

        name = lambda part: Path(part).name if "/" in part else part  # noqa: E731
        return map_paths(value, name) if ":" in value else name(value)
    return value


def validation_at(log: Path, step: int | None) -> tuple[int, dict]:
    """(step, {case: PSNR dB}) of the trainer's validation lines in ``log`` (``val/<case>_psnr``,
    brightness-anchored in runs since ``val/<case>_raw_psnr`` was added beside it) at ``step``, or
    at the last validated step.

    Raises:
        SystemExit: no validation at that step (names the log).
    """
    rows = {}
    with open(log, newline="") as f:
        for r in csv.DictReader(f):
            tag = r["tag"]
            if tag.startswith("val/") and tag.endswith("_psnr") and not tag.startswith("val/sim") \
                    and not tag.endswith("_raw_psnr"):
                rows.setdefault(int(r["step"]), {})[tag[4:-5]] = round(float(r["value"]), 2)
    if not rows:
        raise SystemExit(f"{log}: no validation lines")
    step = max(rows) if step is None else step
    if step not in rows:
        raise SystemExit(f"{log}: no validation at step {step} (validated: {sorted(rows)})")
    return step, rows[step]


def with_indices(validation: dict, cases: list) -> dict:
    """``validation`` with each case named ``<stream>@<index>``: the trainer tags a case by its
    stream alone when no other ``--val`` case shares the stream (``ssml.validation``); the index
    comes from the run's ``val`` list (``DAT:GT_PNG:INDEX``)."""
    from ssml.cases import case_name, split_case

    index = {case_name(parts[0]): parts[-1] for parts in map(split_case, cases)}
    return {(f"{k}@{index[k]}" if "@" not in k and k in index else k): v for k, v in validation.items()}


def changes(config: dict, reference: dict) -> dict:
    """{key: value} of the settings in ``config`` that differ from ``reference`` (IGNORED aside);
    a key that a config written by an older version lacks has its ``TrainConfig`` default, and
    one that a newer version lacks (``ssml.config.RETIRED``) the value it had when it was off."""
    from ssml.config import RETIRED, TrainConfig

    defaults = {**RETIRED, **TrainConfig().to_dict()}
    return {k: v for k, v in sorted(config.items())
            if k not in IGNORED and _names(reference.get(k, defaults.get(k))) != _names(v)}


def quality_summary(path: Path, label: str) -> dict:
    """Validation mean, dark-validation edge fidelity, test-grid mean, test-grid mean at stream
    start (PSNR dB) and dark-cell edge fidelity of one row of a ``tools/quality_table.py`` JSON;
    each only where the row has it (JSON written with ``--no-test``, or before a column existed).

    Raises:
        SystemExit: the file is missing, or has no row of that label (lists the labels there).
    """
    if not Path(path).is_file():
        raise SystemExit(f"{path}: not found (write it with tools/quality_table.py --json-out)")
    rows = {r["label"]: r for r in json.loads(Path(path).read_text())["rows"]}
    if label not in rows:
        raise SystemExit(f"{path}: no row {label!r} (rows: {', '.join(rows)})")
    r = rows[label]
    out = {"validation_mean": round(mean(r["validation"]), 2)}
    if r.get("dark"):
        out["dark_validation_edges"] = round(mean(r["dark"], "edges"), 3)
    if r.get("test"):
        out.update(test_mean=round(mean(r["test"]), 2), dark_edges=round(mean(r["test"], "edges", light="dark"), 3))
    if r.get("test_start"):
        out["test_start_mean"] = round(mean(r["test_start"]), 2)
    return out


def run_file(run, name: str) -> Path:
    """``run/name`` of a run folder.

    Raises:
        SystemExit: it is not there (names it).
    """
    path = Path(run) / name
    if not path.is_file():
        raise SystemExit(f"{path}: not found (is {run} a spikekit train run folder?)")
    return path


def record(args) -> None:
    """Add (or replace, by label) one run's entry in ``args.json`` (the ``record`` command).

    Raises:
        SystemExit: a missing run file or quality JSON, or no validation at ``args.step``.
    """
    from spikekit.io import atomic_output

    config = yaml.safe_load(run_file(args.run, "config.yaml").read_text())
    reference = yaml.safe_load(run_file(args.reference, "config.yaml").read_text()) if args.reference else config
    step, validation = validation_at(run_file(args.run, "log.csv"), args.step)
    validation = with_indices(validation, config.get("val") or [])
    entry = {"label": args.label, "init": _names(config.get("init") or "scratch"), "step": step,
             "schedule": config["steps"], "changes": _names(changes(config, reference)), "validation": validation}
    if args.quality:
        entry["quality"] = quality_summary(Path(args.quality), args.row or args.label)
    path = Path(args.json)
    entries = json.loads(path.read_text()) if path.is_file() else []
    entries = [e for e in entries if e["label"] != args.label] + [entry]
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
    print(json.dumps(entry))


def table(entries: list[dict]) -> str:
    """The markdown table of the recorded entries (as ``record`` writes them), in recording order."""
    cases = list(dict.fromkeys(c for e in entries for c in e["validation"]))
    lines = ["| recipe | from | steps (schedule) | settings changed | " + " | ".join(cases)
             + " | validation mean | edge fidelity, dark validation | test mean | test at stream start"
             " | edge fidelity, dark test cells |",
             "|---" * (9 + len(cases)) + "|"]
    for e in entries:
        changed = ", ".join(f"`{k}={json.dumps(v)}`" for k, v in e["changes"].items()) or "none"
        q = e.get("quality", {})
        lines.append(f"| {e['label']} | {e['init']} | {e['step']:,} ({e['schedule']:,}) | {changed} | "
                     + " | ".join(f"{e['validation'][c]:.2f}" if c in e["validation"] else "" for c in cases)
                     + "".join(f" | {q[k]:.{d}f}" if k in q else " | " for k, d in
                               (("validation_mean", 2), ("dark_validation_edges", 3), ("test_mean", 2),
                                ("test_start_mean", 2), ("dark_edges", 3))) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="add one run's measured figures to the JSON")
    rec.add_argument("--json", required=True)
    rec.add_argument("--label", required=True)
    rec.add_argument("--run", required=True, help="run folder (config.yaml, log.csv)")
    rec.add_argument("--step", type=int, help="validated step to take (default: the last)")
    rec.add_argument("--reference", help="run folder whose settings the 'changed' column compares with")
    rec.add_argument("--quality", help="tools/quality_table.py JSON holding a row for this run")
    rec.add_argument("--row", help="that row's label (default: --label)")
    ren = sub.add_parser("render", help="write the table into a model card")
    ren.add_argument("--json", required=True)
    ren.add_argument("--card", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        return record(args)
    text = table(json.loads(Path(args.json).read_text()))
    print(text)
    if args.card:
        write_card(args.card, text, MARKERS)


if __name__ == "__main__":
    main()
