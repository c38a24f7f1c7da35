"""``--param ends``: ``-m ssml`` reads a window centred near a stream's end with its ends weights
(src/ssml/method.py), checked against the networks run by hand on windows mirrored with plain
Python indices."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spikekit.recon import get_method, reconstruct
from spikekit.recon.padding import reflected_source
from spikekit.recon.source import Source
from ssml.method import ENDS_REACH, SsmlOptions, end_groups, ends_weights, near_end
from ssml.weights_io import DEFAULT_WEIGHTS, ENDS_WEIGHTS
from ssml_model_util import one_thread, random_lite, spikes  # noqa: F401  (one_thread: autouse fixture)

T, H, W = 60, 12, 16
LITE = get_method("ssml-lite")


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """Two different untrained LiteNets: (path, model) each."""
    return [random_lite(tmp_path_factory.mktemp(f"w{seed}"), seed=seed) for seed in (1, 2)]


@pytest.fixture(scope="module")
def stream():
    return spikes(T, H, W, p=0.3, seed=5, dtype=torch.uint8)


def by_hand(model, stream, centre):
    """The model's brightness-anchored image (scale 1/0.6) on the 41-frame window centred at
    ``centre``, frames past an end mirrored about it (frame -k is k, frame T-1+k is T-1-k)."""
    index = [abs(i) if i < 0 else (2 * (T - 1) - i if i >= T else i) for i in range(centre - 20, centre + 21)]
    window = stream[index].float()[None]
    with torch.no_grad():
        out = model(window)[0, 0]
    out = out * window.mean() / out.mean()
    return (out / 0.6).clamp(0, 1)


def test_near_end_counts_input_frames():
    assert near_end(ENDS_REACH - 1, (0, 99)) and not near_end(ENDS_REACH, (0, 99))
    assert near_end(99 - ENDS_REACH + 1, (0, 99)) and not near_end(99 - ENDS_REACH, (0, 99))
    assert near_end(3 * ENDS_REACH - 1, (0, 999), k=3) and not near_end(3 * ENDS_REACH, (0, 999), k=3)
    # ends in a mirrored source's own frames: the stream's first frame at local index -e
    assert near_end(0, (-ENDS_REACH, 99)) is False and near_end(0, (1 - ENDS_REACH, 99)) is True


def test_end_groups_split_runs_and_batches():
    near = {0, 1, 2, 9}.__contains__
    assert end_groups([0, 1, 2, 3, 4, 5, 9], 2, near) == [
        ([0, 1], True), ([2], True), ([3, 4], False), ([5], False), ([9], True)]
    assert end_groups([], 4, near) == []


@pytest.mark.parametrize("ends", ["file", "off"])
def test_ends_weights_read_the_windows_near_each_end(nets, stream, ends):
    (main_path, main), (end_path, end) = nets
    centres = [0, ENDS_REACH - 1, ENDS_REACH, 30, T - 1 - ENDS_REACH, T - ENDS_REACH, T - 1]
    out = reconstruct(LITE, stream, at=centres, pad="reflect", weights=main_path, precision="fp32", bin=1,
                      ends=end_path if ends == "file" else "off")
    for k, c in enumerate(centres):
        at_end = ends == "file" and min(c, T - 1 - c) < ENDS_REACH
        torch.testing.assert_close(out[k], by_hand(end if at_end else main, stream, c), rtol=1e-4, atol=1e-5)


def test_ends_weights_default_only_for_the_shipped_ssml(tmp_path):
    assert ends_weights(SsmlOptions()) == ENDS_WEIGHTS
    assert ends_weights(SsmlOptions(), lite=True) is None  # ssml-lite: its own weights everywhere
    assert ends_weights(SsmlOptions(weights="mine.pt")) == "mine.pt"
    assert ends_weights(SsmlOptions(ends="OFF")) is None
    other = tmp_path / "e.pt"
    other.touch()
    assert ends_weights(SsmlOptions(weights="mine.pt", ends=str(other))) == str(other)


def test_bad_ends_is_one_line_naming_the_method(tmp_path):
    for value, why in (("nope.pt", "no such file"), ("", "empty"), (str(tmp_path), "no last.pt in that folder")):
        with pytest.raises(ValueError, match=r"^ssml: ends must be auto, off or a weights file or run folder, "
                                             rf"got '.*' \({why}\)$"):
            get_method("ssml").make_options(ends=value)
    (tmp_path / "last.pt").touch()
    assert get_method("ssml").make_options(ends=str(tmp_path)).ends == str(tmp_path)  # a run folder


def test_reflected_source_knows_where_the_stream_ends(stream, tmp_path):
    from spikekit.io import SpikeStream, write_dat

    padded = reflected_source(Source(stream), -7, T + 3)
    assert padded.ends == (7, T + 6) and padded.name == "spikes" and padded.frames == T + 10
    assert Source(stream).ends == (0, T - 1)
    np.testing.assert_array_equal(padded.tensor[7 - 3].numpy(), stream[3].numpy())  # frame -3 is frame 3
    with SpikeStream(write_dat(tmp_path / "s.dat", stream)) as file:  # messages name the file
        assert reflected_source(Source(file), -2, 30).name == str(file.path)


def test_shipped_ends_weights_beat_the_main_ones_at_a_first_frame(shared_data):
    """200_part1 cut to start at its GT frame (never trained on; a 96x96 crop): the first frame
    read with the shipped ends weights against the shipped weights alone (measured on the full
    frame: 32.4 against 28.9 dB, src/ssml/weights/MODEL_CARD.md)."""
    import spikekit
    from spikekit.metrics import load_gt, psnr

    if not (DEFAULT_WEIGHTS.is_file() and ENDS_WEIGHTS.is_file()):
        pytest.skip("no shipped weights in this checkout")
    crop = (slice(77, 173), slice(152, 248))
    spikes150 = spikekit.read_dat(shared_data / "reds301/spike/200_part1_key_id151.dat", start=150, stop=171)
    gt = load_gt(shared_data / "reds301/gt/200_part1_key_id151.png")[crop]
    part = spikes150[:, crop[0], crop[1]]
    ours, alone = (reconstruct(get_method("ssml"), part, at=0, pad="reflect", ends=e).numpy() for e in ("auto", "off"))
    assert psnr(ours, gt) > psnr(alone, gt) + 1.5
