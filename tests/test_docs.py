"""The README and docs/ as a newcomer meets them: every Python snippet runs as written, every
`spikekit` command shown on the demo stream runs, every link resolves; the benchmark tables are
generated from JSON.

Snippets run in a fresh folder holding what `make demo` leaves there: demo_out/scene.dat, its
sidecar and demo_out/gt/ (written by the demo's own simulate_scene).
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.demo import simulate_scene

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 150


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(), flags=re.S | re.M)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """A working folder after `make demo`: demo_out/scene.dat (+ .json) and demo_out/gt/."""
    root = tmp_path_factory.mktemp("clone")
    simulate_scene(root / "demo_out")
    return root


def test_readme_is_a_front_door():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert "make demo" in text and "make test" in text and "demo_out/scene.dat" in text
    assert "| TFP w=" not in text and "MODEL_CARD.md" in text  # the quality table lives in the model card
    assert not re.search(r"\d+ ?x (faster|cheaper|slower)", text)  # speed figures come from measured JSON (docs/benchmarks.md)
    assert "../shared/data" in text and "skip" in text  # says what the shared data is and that its tests skip


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_python_snippets_run_as_written(doc, fresh_clone, monkeypatch):
    monkeypatch.chdir(fresh_clone)
    snippets = blocks(doc, "python")
    if doc.name == "README.md":
        assert snippets, "the README shows Python"
    for i, code in enumerate(snippets):
        exec(compile(code, f"{doc.name} python snippet {i + 1}", "exec"), {"__name__": "__main__"})


def demo_commands() -> list[str]:
    """The README's `spikekit ...` lines that work on the demo stream."""
    lines = [line for code in blocks(REPO / "README.md", "bash") for line in code.splitlines()]
    return [line for line in lines if line.startswith("spikekit ") and "demo_out/" in line]


@pytest.mark.parametrize("line", demo_commands())
def test_readme_commands_on_the_demo_stream_run(line, fresh_clone, monkeypatch):
    monkeypatch.chdir(fresh_clone)
    args = shlex.split(line, comments=True)[1:]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{line}\n{result.output}"
    outputs = [a for a in args if a.startswith("demo_out/") and a != "demo_out/scene.dat"]
    for out in outputs:
        assert (fresh_clone / out).is_file(), f"{line}: {out} not written"


def test_readme_own_recording_block_is_one_consistent_sequence(shared_data, tmp_path, monkeypatch):
    """The README's "My own recording" lines, pasted as written on a bottom-up 250 x 400 recording
    without a sidecar (a REDS stream named rec.dat): the preview is upright, --write-sidecar
    records what the info line settled, and the recon line after it reads the same size and row
    order from rec.dat.json (adapt and -m ssml are left out: minutes of training)."""
    import imageio.v3 as iio
    import numpy as np

    (tmp_path / "rec.dat").write_bytes((shared_data / "reds301/spike/200_part1_key_id151.dat").read_bytes())
    gt = iio.imread(shared_data / "reds301/gt/200_part1_key_id151.png").astype(float)
    monkeypatch.chdir(tmp_path)
    section = (REPO / "README.md").read_text().split("## My own recording")[1].split("\n## ")[0]
    lines = [line for code in re.findall(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)
             for line in code.splitlines() if line.startswith("spikekit ")]
    run = [shlex.split(line, comments=True)[1:] for line in lines if "adapt" not in line and "runs/mine" not in line]
    assert len(run) == 3 and "--write-sidecar" in run[1] and not any("--no-flip" in args for args in run)
    for args in run:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, f"{args}\n{result.output}"
    meta = json.loads((tmp_path / "rec.dat.json").read_text())
    assert (meta["height"], meta["width"], meta["flip"], meta["rate"], meta["head"]) == (250, 400, True, 20000.0, 0)

    def upright(image):  # closer to the upright ground truth than to it upside down
        corr = [np.corrcoef(image.ravel(), g.ravel())[0, 1] for g in (gt, gt[::-1])]
        return corr[0] > corr[1] + 0.2

    assert upright(iio.imread(tmp_path / "p.png").astype(float))
    assert upright(iio.imread(tmp_path / "rec.mp4", index=1)[..., 0].astype(float))


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_examples_need_no_shared_data(doc):
    """Issue 29: a user has no ../shared/data; the docs' commands run on the demo's files or name
    the user's own (the shared data may be named in prose, as where a figure was measured)."""
    for code in blocks(doc, "bash") + blocks(doc, "python"):
        for line in code.splitlines():
            assert "shared/data" not in line.split("#")[0], f"{doc.name}: {line}"


@pytest.mark.parametrize("doc", DOCS, ids=[p.name for p in DOCS])
def test_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
        if not target.startswith(("http://", "https://")):
            assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_bench_tables_are_generated_from_json(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_tables", REPO / "tools" / "bench_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    json_dir = tmp_path / "bench_out"
    json_dir.mkdir()
    rows = [{"case": "decode 301", "speedup": 7.912345, "frames": 301}, {"case": "decode 40000", "speedup": 4.2}]
    (json_dir / "io.json").write_text(json.dumps({"benchmark": "io", "decode": rows,
                                                  "stream": {"rss": [{"chunk": 1000, "peak_mb": 426.0}]},
                                                  "machine": {"cpus": 2}}))
    (json_dir / "quality.json").write_text(json.dumps({"rows": [{"label": "TFP", "validation": []}]}))  # not a benchmark
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"intro\n{tables.BEGIN}\nold figures\n{tables.END}\noutro\n")
    text = tables.update(doc, json_dir)
    assert "old figures" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert "### io\n\nMachine: cpus 2." in text and "quality" not in text
    assert "| case | speedup | frames |\n|---|---|---|\n| decode 301 | 7.912 | 301 |\n| decode 40000 | 4.2 |  |" in text
    assert "`stream / rss`:\n\n| chunk | peak_mb |\n|---|---|\n| 1000 | 426 |" in text
    assert tables.update(doc, json_dir) == text  # idempotent
    shipped = (REPO / "docs" / "benchmarks.md").read_text()
    assert tables.BEGIN in shipped and tables.END in shipped


def test_one_spelling_of_centre():
    """The tree writes the British "centre(s)/centred" everywhere (code, kernels, docs), one spelling."""
    import subprocess

    try:
        files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    american = re.compile(r"\b[cC]enter(s|ed|ing)?\b")
    suffixes = (".py", ".md", ".cpp", ".cu", ".h", ".txt", ".cfg", ".ini", ".toml", ".sh")
    found = [f"{name}:{n}" for name in files if name.endswith(suffixes) and (REPO / name).is_file()
             for n, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1)
             if american.search(line) and "[cC]enter" not in line]
    assert not found, f"American spelling of centre in: {found[:10]}"
