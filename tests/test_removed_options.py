"""Options removed in issue 30 because they gained nothing on data they were not chosen on:
``--param blend`` of ``-m ssml``/``-m ssml-lite``. Asking for it now is the usual unknown-name
error."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from ssml.method import SsmlOptions

from ssml_model_util import one_thread  # noqa: F401  (autouse fixture)


@pytest.mark.parametrize("method", ["ssml", "ssml-lite"])
def test_blend_is_an_unknown_parameter(tmp_path, method):
    spikes = (torch.rand(60, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.4).to(torch.uint8)
    dat = spikekit.write_dat(tmp_path / "s.dat", spikes)
    out = tmp_path / "x.png"
    res = CliRunner().invoke(main, ["recon", str(dat), "-m", method, "--at", "30", "--param", "blend=1",
                                    "-o", str(out)])
    assert res.exit_code == 1 and not out.exists()
    assert res.output.strip().splitlines() == [
        f"Error: {method}: unknown parameter(s) ['blend']; known: precision, batch, anchor, bin, ensemble, ends"]
    assert "blend" not in {f for f in SsmlOptions.__dataclass_fields__}

