"""tools/ablation_table.py: figures read from a run folder, recorded to JSON, rendered into a card."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import ablation_table  # noqa: E402


def _run(folder: Path, config: dict, vals: dict) -> Path:
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    lines = ["step,wall_s,tag,value"]
    for step, cases in vals.items():
        lines += [f"{step},1.0,loss/total,0.5", f"{step},1.0,val/sim_psnr,40.0"]
        lines += [f"{step},1.0,val/{case}_psnr,{psnr}" for case, psnr in cases.items()]
    (folder / "log.csv").write_text("\n".join(lines) + "\n")
    return folder


def _cli(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["ablation_table.py", *map(str, args)])
    ablation_table.main()


def test_record_and_render(tmp_path, monkeypatch, capsys):
    base = {"out": "/a/ref", "steps": 100, "lr": 1e-3, "videos": ["/abs/data/v.mp4"], "seed": 0, "init": None}
    ref = _run(tmp_path / "ref", base, {50: {"a": 30.0, "b": 31.0}, 100: {"a": 32.004, "b": 33.0}})
    other = _run(tmp_path / "other", {**base, "out": "/a/o", "lr": 5e-4, "videos": ["../data/v.mp4"], "seed": 3,
                                       "init": "/x/weights/w.pt"}, {100: {"a": 31.5, "b": 34.25}})
    js, card = tmp_path / "abl.json", tmp_path / "CARD.md"
    for label, run, step in (("reference", ref, 50), ("half lr", other, None), ("reference", ref, None)):
        _cli(monkeypatch, "record", "--json", js, "--label", label, "--run", run, "--reference", ref,
             *(["--step", step] if step else []))
    entries = json.loads(js.read_text())
    # the same label is replaced, not doubled; paths differing only in form are no change
    assert [e["label"] for e in entries] == ["half lr", "reference"]
    assert entries[0]["changes"] == {"lr": 5e-4} and entries[0]["init"] == "w.pt"
    assert entries[1]["validation"] == {"a": 32.0, "b": 33.0} and entries[1]["step"] == 100
    card.write_text("# card\n<!-- ablation-table -->\nold\n<!-- /ablation-table -->\ntail\n")
    _cli(monkeypatch, "render", "--json", js, "--card", card)
    body = card.read_text()
    assert "old" not in body and body.endswith("tail\n")
    assert "| half lr | w.pt | 100 (100) | `lr=0.0005` | 31.50 | 34.25 |" in body
    assert "| reference | scratch | 100 (100) | none | 32.00 | 33.00 |" in body


def test_missing_step_names_the_log(tmp_path):
    run = _run(tmp_path / "r", {"steps": 10}, {10: {"a": 1.0}})
    with pytest.raises(SystemExit, match=r"log.csv: no validation at step 5 \(validated: \[10\]\)"):
        ablation_table.validation_at(run / "log.csv", 5)


def test_missing_run_files_are_named(tmp_path, monkeypatch):
    js = tmp_path / "abl.json"
    with pytest.raises(SystemExit, match=r"nope/config.yaml: not found"):
        _cli(monkeypatch, "record", "--json", js, "--label", "x", "--run", tmp_path / "nope")
    run = _run(tmp_path / "r", {"steps": 10}, {10: {"a": 1.0}})
    with pytest.raises(SystemExit, match=r"q.json: not found"):
        _cli(monkeypatch, "record", "--json", js, "--label", "x", "--run", run, "--quality", tmp_path / "q.json")
    assert not js.exists()



def test_quality_columns_come_from_the_quality_json(tmp_path, monkeypatch):
    cell = lambda p, light="dim": {"psnr": p, "ssim": 0.9, "edges": 0.5, "light": light}
    rows = [{"label": "new", "validation": [cell(30.0), cell(32.0)], "test": [cell(40.0), cell(44.0, "dark")],
             "test_start": [cell(35.0), cell(36.0)], "dark": [cell(49.0, "dark"), {**cell(50.0, "dark"), "edges": 0.7}]},
            {"label": "old", "validation": [cell(30.0)], "test": [cell(40.0, "dark")]},  # before the columns
            {"label": "tuning", "validation": [cell(33.0)], "test": [], "dark": [cell(49.0, "dark")]}]  # --no-test
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"rows": rows}))
    assert ablation_table.quality_summary(q, "new") == {"validation_mean": 31.0, "test_mean": 42.0, "dark_edges": 0.5,
                                                        "test_start_mean": 35.5, "dark_validation_edges": 0.6}
    assert "test_start_mean" not in ablation_table.quality_summary(q, "old")
    assert ablation_table.quality_summary(q, "tuning") == {"validation_mean": 33.0, "dark_validation_edges": 0.5}
    run = _run(tmp_path / "r", {"steps": 10}, {10: {"a": 1.0}})
    js = tmp_path / "abl.json"
    for label in ("new", "old", "tuning"):
        _cli(monkeypatch, "record", "--json", js, "--label", label, "--run", run, "--quality", q)
    text = ablation_table.table(json.loads(js.read_text()))
    assert "| new | scratch | 10 (10) | none | 1.00 | 31.00 | 0.600 | 42.00 | 35.50 | 0.500 |" in text
    assert "| old | scratch | 10 (10) | none | 1.00 | 30.00 |  | 40.00 |  | 0.500 |" in text
    assert "| tuning | scratch | 10 (10) | none | 1.00 | 33.00 | 0.500 |  |  |  |" in text


def test_cases_are_named_with_their_index_from_the_runs_val_list():
    cases = ["/d/200_part1_key_id151.dat:/g/a.png:150", "/d/000_part1_key_id21.dat:/g/b.png:20"]
    got = ablation_table.with_indices({"200_part1": 37.0, "000_part1": 35.0}, cases)
    assert got == {"200_part1@150": 37.0, "000_part1@20": 35.0}
    # a case already tagged with its index (several cases of one stream) stays as it is
    assert ablation_table.with_indices({"000_part1@6": 34.0}, cases) == {"000_part1@6": 34.0}


def test_pair_and_val_paths_are_shown_by_their_file_names():
    pair = "/data/reds301/spike/203_part2_key_id151.dat:/data/reds301/gt/203_part2_key_id151.png:150"
    assert ablation_table._names({"pairs": [pair], "init": "src/ssml/weights/ssml_lite.pt", "lr": 0.1}) == {
        "pairs": ["203_part2_key_id151.dat:203_part2_key_id151.png:150"], "init": "ssml_lite.pt", "lr": 0.1}


def test_a_key_an_older_reference_config_lacks_counts_as_its_default():
    """A reference run written before a config key existed: the key has its TrainConfig default
    there, so a newer run that keeps the default shows no change, and one that sets it does."""
    from ssml.config import TrainConfig

    old = {"lr": 1e-3}
    new = {**TrainConfig().to_dict(), "lr": 1e-3}
    assert ablation_table.changes(new, old) == {}
    assert ablation_table.changes({**new, "pair_fraction": 0.5}, old) == {"pair_fraction": 0.5}


def test_a_key_a_newer_version_removed_counts_as_its_off_value():
    """A run written before issue 30 removed online distillation holds ``teacher: ''`` and its
    weights (ssml.config.RETIRED): no change against a newer reference unless it set a teacher."""
    from ssml.config import RETIRED, TrainConfig

    new = TrainConfig().to_dict()
    assert ablation_table.changes({**new, **RETIRED}, new) == {}
    assert ablation_table.changes({**new, **RETIRED, "teacher": "lite"}, new) == {"teacher": "lite"}
