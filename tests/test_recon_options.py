"""Typed method options (src/spikekit/recon/options.py): --param values read as their fields' types,
unknown names refused, --help text from the fields, and the one KEY=VALUE grammar."""
from __future__ import annotations

from typing import Literal, Optional

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from spikekit.cliutils import parse_assignments
from spikekit.recon import get_method, reconstruct, tfstp
from spikekit.recon.options import describe, parse_params, parse_value
from spikekit.recon.tfstp import TfstpOptions
from ssml.method import SsmlOptions


@pytest.mark.parametrize("text, kind, want", [
    ("400", int, 400), ("1e3", int, 1000), (" 7 ", int, 7), ("2.5", int, "2.5"), ("2.0", int, "2.0"),
    ("x", int, "x"), ("none", Optional[int], None), ("NULL", Optional[int], None), ("none", int, "none"),
    ("12", Optional[int], 12), ("0.15", float, 0.15), ("1", float, 1.0), ("1e-3", float, 0.001),
    ("true", bool, True), ("On", bool, True), ("0", bool, False), ("no", bool, False), ("2", bool, "2"),
    ("bf16", Literal["fp32", "bf16"], "bf16"), ("  a b ", str, "a b"),
])
def test_parse_value_reads_the_fields_type(text, kind, want):
    got = parse_value(text, kind)
    assert got == want and type(got) is type(want)


def test_parse_params_refuses_unknown_and_flag_names():
    assert parse_params(TfstpOptions, {"D": "2", "warmup": "none"}, "tfstp") == {"D": 2.0, "warmup": None}
    with pytest.raises(ValueError, match=r"tfstp: unknown parameter\(s\) \['tau'\]; known: u0, D, F, f, warmup"):
        parse_params(TfstpOptions, {"tau": "3"}, "tfstp")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['weights'\]; known: precision, batch, anchor"):
        parse_params(SsmlOptions, {"weights": "w.pt"}, "ssml", exclude=("weights",))


def test_help_text_comes_from_the_fields():
    assert describe(TfstpOptions) == "u0=0.15, D=1.0, F=10.0, f=0.15, warmup=400"
    assert describe(SsmlOptions, exclude=("weights",)) == "precision=auto|fp32|bf16, batch=N, anchor=1|0, bin=auto|K, ensemble=1|2|4|8, ends=auto|off|FILE"
    assert describe(get_method("tfp").options, exclude=("window",)) == ""
    result = CliRunner().invoke(main, ["recon", "--help"], terminal_width=400)
    assert "tfstp: u0=0.15, D=1.0, F=10.0, f=0.15, warmup=400; ssml, ssml-lite: precision=auto|fp32|bf16" in result.output


def test_options_check_their_values_and_names():
    spikes = torch.ones(50, 2, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"tfp: unknown parameter\(s\) \['max_interval'\]; known: window"):
        reconstruct(get_method("tfp"), spikes, max_interval=3)
    with pytest.raises(ValueError, match="^tfp: window must be an integer"):
        reconstruct(get_method("tfp"), spikes, window=0)
    with pytest.raises(ValueError, match="^tfstp: u0 and f must be in"):
        reconstruct(get_method("tfstp"), spikes, u0=2.0)
    with pytest.raises(ValueError, match="warmup must be"):
        tfstp(spikes, warmup=-1)
    with pytest.raises(ValueError, match="D and F"):
        TfstpOptions(D="abc")
    assert SsmlOptions(precision="BF16", anchor=0) == SsmlOptions(precision="bf16", anchor=False)


def test_param_values_reach_the_method(tmp_path):
    spikes = (torch.rand(300, 6, 10, generator=torch.Generator().manual_seed(2)) < 0.2).to(torch.uint8)
    path = spikekit.write_dat(tmp_path / "s.dat", spikes)
    out = tmp_path / "stp.npy"
    result = CliRunner().invoke(main, ["recon", str(path), "-H", "6", "-W", "10", "-m", "tfstp", "--at", "250",
                                       "--param", "warmup=none", "--param", "D=2", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(out)[0], tfstp(spikes, at=250, warmup=None, D=2.0).numpy())
    assert not np.array_equal(np.load(out)[0], tfstp(spikes, at=250).numpy())  # the defaults differ


def test_one_key_value_grammar():
    assert parse_assignments(["a-b=1", " c =x=y", "a_b=2"], "--param") == {"a_b": "2", "c": "x=y"}
    assert parse_assignments(["speed=[0.05, 2]"], "--set", decode=lambda v: v.upper()) == {"speed": "[0.05, 2]"}
    for bad in ("novalue", "=3", " =3"):
        with pytest.raises(click.BadParameter, match="expected KEY=VALUE"):
            parse_assignments([bad], "--param")
