"""Frame geometry: head columns, wrong or swapped sizes, sizes that do not divide the file.

Fixtures are built from the shared REDS stream 200_part1 (250 x 400, 301 frames): 16 constant
columns appended to every row make a 250 x 416 camera recording; 300 frames of it (3,900,000
bytes) also divide into 250 x 400 frames, so only the image can tell the size is wrong.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from spikekit import ops
from spikekit.cli import main
from spikekit.io import read_dat, SpikeStream
from spikekit.io.geometry import GeometryError, check_stream, head_columns

SRC = "reds301/spike/200_part1_key_id151.dat"


def _with_head(spikes: torch.Tensor, layout) -> torch.Tensor:
    """Insert constant random columns at the ``layout`` column ranges of the file row."""
    t, h, w = spikes.shape
    width = w + sum(b - a for a, b in layout)
    pattern = torch.from_numpy(np.random.default_rng(1).integers(0, 2, (h, width), dtype=np.uint8))
    out = pattern.expand(t, h, width).clone()
    keep = np.setdiff1d(np.arange(width), np.concatenate([np.arange(a, b) for a, b in layout]))
    out[:, :, torch.from_numpy(keep)] = spikes
    return out


@pytest.fixture(scope="module")
def stored(shared_data):
    """200_part1 in file order (rows bottom-up), uint8 (301, 250, 400)."""
    return read_dat(shared_data / SRC, flip=False)


@pytest.fixture(scope="module")
def camera416(stored, tmp_path_factory):
    """250 x 416 recordings with head columns 400-415: (301-frame file, 300-frame file)."""
    folder = tmp_path_factory.mktemp("head")
    wide = _with_head(stored, ((400, 416),))
    paths = []
    for frames in (301, 300):
        path = folder / f"cam416_{frames}.dat"
        path.write_bytes(ops.pack_spikes(wide[:frames].contiguous(), False).numpy().tobytes())
        paths.append(path)
    return paths


def _run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_head_layouts():
    assert list(head_columns(416, 16)) == list(range(400, 416))
    assert list(head_columns(1024, 24)) == list(range(500, 512)) + list(range(1000, 1012))
    assert list(head_columns(300, 4)) == [296, 297, 298, 299]  # unknown layout: the last columns
    with pytest.raises(ValueError, match="head must be"):
        head_columns(416, 416)


def test_remove_head_gives_the_original_stream(stored, camera416, shared_data):
    full = read_dat(shared_data / SRC)
    assert torch.equal(read_dat(camera416[0], 250, 400, remove_head=16), full)
    with SpikeStream(camera416[0], 250, 400, head=16) as stream:  # packed path (kernels)
        assert len(stream) == 301
        packed = stream.packed(10, 20)
        assert torch.equal(ops.unpack_spikes(packed, 250, 400, True), full[10:20])


def test_remove_head_1024_layout(tmp_path):
    rng = np.random.default_rng(0)
    spikes = torch.from_numpy(rng.integers(0, 2, (3, 8, 1000), dtype=np.uint8))
    wide = _with_head(spikes, ((500, 512), (1000, 1012)))
    path = tmp_path / "w1024.dat"
    path.write_bytes(ops.pack_spikes(wide, True).numpy().tobytes())
    assert torch.equal(read_dat(path, 8, 1000, remove_head=24), spikes)


def test_head_columns_recognised(camera416, tmp_path):
    code, out = _run("info", camera416[1], "-W", "416")
    assert code == 0
    assert "columns 400-415 hold the same bits in every frame" in out and "-W 400 --head 16" in out
    code, out = _run("info", camera416[1], "-W", "400", "--head", "16", "--json")
    assert code == 0 and '"width": 400' in out and '"head": 16' in out


def test_size_that_does_not_divide_while_a_common_one_does(camera416, tmp_path):
    # 301 frames of 13,000 bytes do not divide into 250 x 400 frames, but into 250 x 416 ones.
    code, out = _run("recon", camera416[0], "--at", 150, "-o", tmp_path / "a.png")
    assert code == 2
    assert "250x416 (301 frames; -W 400 --head 16" in out and "--force" in out
    assert "columns 400-415 of 416-column rows hold the same bits in every frame" in out
    assert not (tmp_path / "a.png").exists()
    code, out = _run("recon", camera416[0], "--at", 150, "-o", tmp_path / "a.png", "--force")
    assert code == 0 and "leftover bytes are ignored" in out
    code, out = _run("recon", camera416[0], "-W", 400, "--head", 16, "--at", 150, "-o", tmp_path / "b.png")
    assert code == 0, out


def test_truncated_recording_is_still_a_warning(shared_data, tmp_path):
    path = tmp_path / "cut.dat"
    data = (shared_data / SRC).read_bytes()
    path.write_bytes(data[:12500 * 100 + 77])  # no common size divides 1,250,077 bytes
    code, out = _run("recon", path, "--at", 50, "-o", tmp_path / "c.png")
    assert code == 0 and "77 leftover bytes" in out and "no common sensor size divides it" in out


def test_size_that_divides_but_shears_the_rows(camera416, tmp_path):
    code, out = _run("recon", camera416[1], "--at", 150, "-o", tmp_path / "a.png")
    assert code == 2
    assert "do not line up" in out and "-H 250 -W 400 --head 16" in out
    code, out = _run("info", camera416[1])
    assert code == 2 and "columns 400-415 of 416-column rows hold the same bits" in out
    code, out = _run("recon", camera416[1], "--at", 150, "-o", tmp_path / "a.png", "--force")
    assert code == 0 and "do not line up" in out


def test_swapped_size(shared_data, tmp_path):
    code, out = _run("eval", shared_data / SRC, "-H", 400, "-W", 250, "--at", 150, "--metric", "niqe")
    assert code == 2
    assert "rows of the 400 x 250 image do not line up" in out and "likely 250 x 400" in out
    with SpikeStream(shared_data / SRC, 400, 250, check=False) as stream, \
            pytest.raises(GeometryError, match="likely 250 x 400"):
        check_stream(stream)


def test_python_readers_check_the_size_too(shared_data, tmp_path):
    """read_dat / SpikeStream run the CLI's check: a warning naming the likely size, an error
    with strict=True; a reconstruction of such a stream is never silent."""
    from spikekit.recon import get_method, reconstruct

    with pytest.warns(UserWarning, match=r"400 x 250 image do not line up.*likely 250 x 400.*strict=True"):
        assert read_dat(shared_data / SRC, 400, 250, stop=4).shape == (4, 400, 250)
    with pytest.raises(GeometryError, match=r"likely 250 x 400.*\(or strict=False to read it as given\)"):
        read_dat(shared_data / SRC, 400, 250, strict=True)
    with pytest.warns(UserWarning, match="likely 250 x 400"), SpikeStream(shared_data / SRC, 400, 250) as stream:
        assert reconstruct(get_method("tfp"), stream, at=150).shape == (400, 250)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right size (from the default) and check=False: no word
        read_dat(shared_data / SRC, stop=2)
        read_dat(shared_data / SRC, 400, 250, stop=2, check=False)


def test_wrong_height_with_the_right_width(shared_data, camera416, tmp_path):
    """Read at 301 x 400 (250 frames), the 250 x 400 stream's rows still line up; only the pixels'
    spike trains tell: each read pixel takes a different real pixel's bit in every frame."""
    code, out = _run("recon", shared_data / SRC, "-H", 301, "-W", 400, "--at", 100, "-o", tmp_path / "a.png")
    assert code == 2 and not (tmp_path / "a.png").exists()
    assert "read as 301 x 400, each pixel takes its bits from a different pixel" in out
    assert "likely 250 x 400" in out and "-H 250 -W 400 (or --force" in out
    code, out = _run("recon", shared_data / SRC, "-H", 301, "-W", 400, "--at", 100, "-o", tmp_path / "a.png",
                     "--force")
    assert code == 0 and "read as given (--force)" in out
    code, out = _run("info", camera416[1], "-H", 300, "-W", 400, "--head", 16)  # 3,900,000 = 250 x 15,600
    assert code == 2 and "-H 250 -W 400 --head 16" in out


def test_back_to_back_spikes(shared_data, stored, tmp_path):
    """Integrate-and-fire pixels (the REDS-derived stream, the real recording) almost never fire in
    two successive frames; Bernoulli spikes of the same firing rates do so at chance."""
    from spikekit.io import npz_to_dat
    from spikekit.io.geometry import back_to_back

    raw = np.fromfile(shared_data / SRC, dtype=np.uint8)
    assert back_to_back(raw, 250, 400)[0] < 0.05
    assert back_to_back(raw, 301, 400)[0] > 0.8
    real = npz_to_dat(shared_data / "real/uhsr_caltech_4144_helicopter.npz", tmp_path / "heli.dat")
    assert back_to_back(np.fromfile(real, dtype=np.uint8), 250, 250)[0] < 0.05
    rate = stored[:64].float().mean(0)
    bernoulli = (torch.rand((64, 250, 400), generator=torch.Generator().manual_seed(0)) < rate).to(torch.uint8)
    ratio, chance = back_to_back(ops.pack_spikes(bernoulli, False).numpy().ravel(), 250, 400)
    assert 0.9 < ratio < 1.1 and chance > 1e4


def test_random_spikes_at_the_right_size_pass(stored, tmp_path):
    """A simulator that draws spikes at random (no integrate-and-fire) gives no size a camera's
    pixels: the right size read is not doubted."""
    rate = stored.float().mean(0)
    spikes = (torch.rand((100, 250, 400), generator=torch.Generator().manual_seed(1)) < rate).to(torch.uint8)
    path = tmp_path / "bernoulli.dat"
    path.write_bytes(ops.pack_spikes(spikes, True).numpy().tobytes())
    with SpikeStream(path) as stream:
        assert check_stream(stream) == []


@pytest.mark.parametrize("args,words", [(["--start", -1], "start must be a spike-frame index in the 301-frame stream"),
                                        (["--start", 301], "start must be a spike-frame index"),
                                        (["--stop", 302], "stop must be a spike-frame index"),
                                        (["--start", 50, "--stop", 50], "start 50 is not before stop 50")])
def test_recon_start_and_stop_outside_the_stream_are_refused(shared_data, tmp_path, args, words):
    code, out = _run("recon", shared_data / SRC, "--stride", 10, *args, "-o", tmp_path / "x.npy", "-q")
    assert code == 1 and words in out and "(0 <= start < stop <= 301)" in out
    assert not (tmp_path / "x.npy").exists()


def test_right_sizes_and_noise_pass(shared_data, tmp_path):
    with SpikeStream(shared_data / SRC) as stream:
        assert check_stream(stream) == []
    noise = tmp_path / "noise.dat"  # no structure at any size: nothing to report
    rng = np.random.default_rng(0)
    noise.write_bytes(rng.integers(0, 256, 12500 * 50, dtype=np.uint8).tobytes())
    with SpikeStream(noise) as stream:
        assert check_stream(stream) == []


def test_the_check_of_a_structureless_stream_stays_small(tmp_path):
    """Issue 33: noise gives no image at any size, so the check tries every size dividing the
    file; it decoded 256 frames to float32 at each (690 MiB of peak memory on this file, and
    recon's peak RSS 977 MiB on 40,000 such frames). Counting from the packed bytes, the check
    holds its 16 MiB read plus about 32 bytes per pixel of the largest candidate (1000 x 1000):
    32 MiB measured, against 102 MiB when `back_to_back` summed its 64 frames at once.

    Measured in a fresh process whose allocator maps every buffer over 64 KiB on its own
    (``MALLOC_MMAP_THRESHOLD_``), so each buffer counts in the peak: in this process, memory that
    earlier tests freed but kept would be reused without raising the peak, hiding a regression."""
    path = tmp_path / "noise.dat"  # 2,000 250 x 400 frames: 400 x 250, 500 x 800, 1000 x 1000 divide it too
    block = np.packbits(np.random.default_rng(0).random((100, 250 * 400)) < 0.3, axis=1, bitorder="little")
    path.write_bytes(np.concatenate([block] * 20).tobytes())
    probe = (
        "import sys\n"
        "from fuzz_readers import _reset_peak, _status\n"
        "from spikekit.io import SpikeStream\n"
        "from spikekit.io.geometry import check_stream\n"
        "with SpikeStream(sys.argv[1], check=False) as stream:\n"
        "    assert check_stream(stream) == []  # the first call loads what stays (ops, thread pools)\n"
        "    start = _reset_peak()\n"
        "    assert check_stream(stream) == []\n"
        "    print(_status('VmHWM') - start)\n")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(64 << 10), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) < 64 << 20


def test_preview_scale_auto(shared_data, tmp_path):
    from spikekit.io import npz_to_dat

    dat = npz_to_dat(shared_data / "real/uhsr_caltech_4144_helicopter.npz", tmp_path / "heli.dat")
    assert _run("info", dat, "--preview", tmp_path / "fixed.png")[0] == 0
    assert _run("info", dat, "--preview", tmp_path / "auto.png", "--scale", "auto")[0] == 0
    fixed, auto = iio.imread(tmp_path / "fixed.png"), iio.imread(tmp_path / "auto.png")
    assert fixed.mean() < 30  # a dark recording (mean rate 0.03): black at the REDS scale
    assert auto.mean() > 3 * fixed.mean() and np.percentile(auto, 99.5) >= 250
    code, out = _run("info", dat, "--preview", tmp_path / "x.png", "--scale", "dark")
    assert code == 1 and "scale must be" in out
