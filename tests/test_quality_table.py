"""tools/quality_table.py: its edge-fidelity measure and best-classic row against plain formulas."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import quality_table  # noqa: E402


def test_edge_fidelity_is_one_for_the_gt_and_lower_when_blurred():
    rng = np.random.default_rng(0)
    gt = ndimage.gaussian_filter(rng.random((48, 48)), 1.0)
    assert quality_table.edge_fidelity(gt, gt) == pytest.approx(1.0)
    assert quality_table.edge_fidelity(2 * gt, gt) == pytest.approx(2.0)  # linear in the image
    blurred = ndimage.gaussian_filter(gt, 2.0)
    assert quality_table.edge_fidelity(blurred, gt) < 0.6
    # noise uncorrelated with the edges averages out instead of scoring as sharpness
    noisy = gt + rng.normal(0, 0.2, gt.shape)
    assert quality_table.edge_fidelity(noisy, gt) == pytest.approx(1.0, abs=0.25)


def test_best_row_takes_each_case_best_classic():
    rows = [{"classic": True, "validation": [{"case": "a", "psnr": 30.0, "ssim": 0.9, "edges": 0.5},
                                             {"case": "b", "psnr": 20.0, "ssim": 0.7, "edges": 0.9}]},
            {"classic": True, "validation": [{"case": "a", "psnr": 25.0, "ssim": 0.95, "edges": 0.6},
                                             {"case": "b", "psnr": 22.0, "ssim": 0.6, "edges": 0.8}]},
            {"classic": False, "validation": [{"case": "a", "psnr": 99.0, "ssim": 1.0, "edges": 1.0},
                                              {"case": "b", "psnr": 99.0, "ssim": 1.0, "edges": 1.0}]}]
    best = quality_table.best_row(rows, "validation")
    assert [(b["case"], b["psnr"], b["ssim"], b["edges"]) for b in best] == [("a", 30.0, 0.95, 0.6), ("b", 22.0, 0.7, 0.9)]


def test_no_real_panels_without_real_rows(tmp_path):
    """--no-test rows carry no real-recording images: no panel, no crash."""
    assert quality_table.write_real_panels([], tmp_path) == []


def test_tables_show_the_stream_start_mean_beside_the_test_mean():
    test = [{"case": f"c{i}", "speed": s, "light": l, "noise": n, "psnr": 30.0 + i, "ssim": 0.9, "edges": 1.0}
            for i, (s, l, n) in enumerate([("slow", "dark", "off"), ("fast", "bright", "on")])]
    start = [{**c, "psnr": c["psnr"] - 10} for c in test]
    row = {"label": "net", "seconds_per_frame": None, "validation": [{"case": "v", "psnr": 1.0, "ssim": 0.5}],
           "test": test, "test_start": start, "niqe": {}}
    text = quality_table.tables({"validation_cases": ["v"], "test_cases": 2, "rows": [row], "real": []})
    line = [x for x in text.splitlines() if x.startswith("| net |") and "**30.50" in x][0]
    assert line.endswith("| **30.50 / 0.900** | 20.50 / 0.900 |")
    assert "| mean | at stream start |" in text


def test_dark_validation_table_has_psnr_and_edge_fidelity_per_method():
    dark = [{"case": f"dark/{i}", "light": "dark", "psnr": 40.0 + 2 * i, "ssim": 0.8, "edges": 0.5 + 0.1 * i}
            for i in range(2)]
    row = {"label": "net", "seconds_per_frame": None, "validation": [{"case": "v", "psnr": 1.0, "ssim": 0.5}],
           "dark": dark}
    text = quality_table.tables({"validation_cases": ["v"], "test_cases": 0, "rows": [row], "real": []})
    assert "| net | 41.00 / 0.800 | 0.550 |" in text and "Dark validation" in text


def test_model_rows_take_method_params():
    assert quality_table.parse_model("a=ssml-lite:w.pt,bin=2,anchor=0") == (
        "a", "ssml-lite", {"weights": "w.pt", "bin": 2, "anchor": False})
    assert quality_table.parse_model("b=tfp,window=21") == ("b", "tfp", {"weights": None, "window": 21})
    for bad in ("nolabel", "c=ssml,bin", "d=ssml,nosuch=1", "e=ssml,weights=x"):
        with pytest.raises(SystemExit, match="--model"):
            quality_table.parse_model(bad)


def test_ends_sweep_cuts_the_stream_d_frames_from_its_gt_frame(shared_data):
    """tools/ends_sweep.py: the head case's GT frame lies d frames after its first frame, the tail
    case's d frames before its last, and the frames are the stream's own."""
    import ends_sweep
    from spikekit import read_dat

    cases = ends_sweep.cut_cases([0, 5])
    assert [c.name for c in cases] == ["head0", "tail0", "head5", "tail5"]
    full = read_dat(next(c for c in ends_sweep.validation_cases(shared_data) if c.name == ends_sweep.STREAM).spikes)
    for case in cases:
        d = case.cell["d"]
        ahead = case.index if case.cell["side"] == "head" else len(case.spikes) - 1 - case.index
        assert ahead == d
        np.testing.assert_array_equal(case.spikes[case.index].numpy(), full[150].numpy())


def test_ends_sweep_table_bolds_the_network_ssml_reads():
    import ends_sweep

    row = lambda d, a, b: {"d": d, "main": {"psnr": a, "ssim": 0.9}, "ends": {"psnr": b, "ssim": 0.8}}
    text = ends_sweep.table({"reach": 3, "rows": [row(2, 30.0, 31.5), row(3, 36.0, 35.0)]})
    assert "| 2 | 30.00 / 0.900 | **31.50 / 0.800** |" in text
    assert "| 3 | **36.00 / 0.900** | 35.00 / 0.800 |" in text


def test_a_model_spec_without_label_is_read_whole():
    """tools/foreign_estimate.py takes its label apart from --model: a label may hold '=' and ','
    because only the spec is parsed, and a spec's errors name the form without LABEL=."""
    assert quality_table.parse_spec("ssml-lite:w.pt,ensemble=8") == (
        "ssml-lite", {"weights": "w.pt", "ensemble": 8})
    with pytest.raises(SystemExit, match=r"expected METHOD\[:WEIGHTS\]"):
        quality_table.parse_spec("ssml-lite,ensemble")
    with pytest.raises(SystemExit, match=r"expected LABEL=METHOD"):
        quality_table.parse_model("a=ssml-lite,ensemble")
