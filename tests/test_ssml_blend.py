"""``--param blend=1``: the image is the mean of the raw outputs of the NBSN (``-m ssml``, with its
ends weights near a stream's end) and of ``ssml-lite`` (src/ssml/method.py), checked against the two
methods run separately."""
from __future__ import annotations

import pytest
import torch

from spikekit.recon import get_method, reconstruct
from spikekit.recon.options import parse_params
from ssml.method import SsmlOptions
from ssml.weights_io import DEFAULT_WEIGHTS, ENDS_WEIGHTS, LITE_WEIGHTS
from ssml_model_util import one_thread, spikes  # noqa: F401  (one_thread: autouse fixture)

pytestmark = pytest.mark.filterwarnings("ignore:.*unlike its training data")
T, H, W = 50, 16, 24
SSML, LITE = get_method("ssml"), get_method("ssml-lite")


@pytest.fixture(scope="module")
def stream():
    return spikes(T, H, W, p=0.3, seed=11, dtype=torch.uint8)


@pytest.mark.skipif(not all(p.is_file() for p in (DEFAULT_WEIGHTS, ENDS_WEIGHTS, LITE_WEIGHTS)),
                    reason="no shipped weights in this checkout")
def test_blend_is_the_mean_of_both_networks_raw_outputs(stream):
    centres = [0, 5, 25, T - 1]  # 0, 5 and T-1 near an end: the NBSN reads them with ssml_ends.pt
    raw = dict(pad="reflect", precision="fp32", bin=1, anchor=0, scale=None)
    nbsn, lite = (reconstruct(m, stream, at=centres, **raw) for m in (SSML, LITE))
    for method in (SSML, LITE):  # the same image from either name
        blend = reconstruct(method, stream, at=centres, blend=1, **raw)
        torch.testing.assert_close(blend, (nbsn + lite) / 2, rtol=1e-5, atol=1e-6)
    # with anchoring, the mean is anchored once: to the window's mean firing rate
    anchored = reconstruct(SSML, stream, at=centres, pad="reflect", precision="fp32", bin=1, blend=1, scale=None)
    mean_rate = torch.stack([stream[[abs(i) if i < 0 else (2 * (T - 1) - i if i >= T else i)
                                     for i in range(c - 20, c + 21)]].float().mean() for c in centres])
    torch.testing.assert_close(anchored.mean(dim=(1, 2)), mean_rate, rtol=1e-4, atol=1e-6)
    # blend with ends=off: the NBSN reads the end windows with its main weights
    nbsn_off = reconstruct(SSML, stream, at=centres, ends="off", **raw)
    torch.testing.assert_close(reconstruct(SSML, stream, at=centres, blend=1, ends="off", **raw),
                               (nbsn_off + lite) / 2, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(nbsn_off[0], nbsn[0])  # the ends weights did read frame 0 above


def test_bad_blend_is_one_line():
    with pytest.raises(ValueError, match=r"^ssml: blend must be 1 \(on\) or 0 \(off\) \(true/yes/on and false/no/off also do\), got 2$"):
        SSML.make_options(blend=2)
    assert SSML.make_options(blend=1).describe() == "blended with the other network"


@pytest.mark.parametrize("text, on", [("yes", True), ("ON", True), ("true", True), ("1", True),
                                      ("no", False), ("off", False), ("0", False)])
def test_blend_words_from_the_command_line(text, on):
    values = parse_params(SsmlOptions, {"blend": text}, "ssml")
    assert SSML.make_options(**values).blend is on


def test_a_word_that_is_no_flag_is_refused_naming_the_words():
    values = parse_params(SsmlOptions, {"anchor": "maybe"}, "ssml")
    with pytest.raises(ValueError, match=r"^ssml: anchor must be 1 \(on\) or 0 \(off\) .*got 'maybe'$"):
        SSML.make_options(**values)
