"""The .dat format: reference figures of the shared files, round trips, windows, bad input."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import torch

import spikekit
from spikekit import ops
from spikekit.io import SpikeStream, read_dat, read_npz, write_dat

from conftest import DEVICES

# ../shared/data/README.md: total spikes, spikes in frame 0, frame 0 rows 0-1 columns 0-7.
REFERENCE = {
    "reds301/spike/200_part1_key_id151.dat": (301, 8658838, 27978, [0, 0, 1, 0, 0, 1, 1, 0], [0] * 8),
    "reds301/spike/203_part2_key_id151.dat": (301, 6262439, 18565, [0, 1, 1, 1, 1, 1, 1, 0], [0, 1, 0, 1, 0, 0, 1, 0]),
    "reds301/spike/203_part3_key_id151.dat": (301, 5277857, 15661, [0, 1, 0, 0, 0, 0, 0, 0], [0] * 8),
    "reds41/spike/000_part1_key_id21.dat": (41, 1358151, 32011, [0, 0, 0, 0, 0, 0, 0, 1], [0, 1, 0, 0, 1, 1, 0, 0]),
}


def reference_unpack(raw: np.ndarray, frames: int, height: int, width: int, flip: bool = True) -> np.ndarray:
    """Plain decoder: one bit at a time, straight from the format description."""
    nb = (height * width + 7) // 8
    out = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        bits = [(int(raw[t * nb + p // 8]) >> (p % 8)) & 1 for p in range(height * width)]
        image = np.array(bits, np.uint8).reshape(height, width)
        out[t] = image[::-1] if flip else image
    return out


def reference_pack(spikes: np.ndarray, flip: bool = True) -> np.ndarray:
    frames, height, width = spikes.shape
    nb = (height * width + 7) // 8
    out = np.zeros((frames, nb), np.uint8)
    for t in range(frames):
        flat = (spikes[t, ::-1] if flip else spikes[t]).reshape(-1)
        for p, v in enumerate(flat):
            out[t, p // 8] |= int(v) << (p % 8)
    return out


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_shared_files_decode_to_reference(shared_data, name):
    frames, total, first, row0, row1 = REFERENCE[name]
    path = shared_data / name
    full = read_dat(path)
    assert full.shape == (frames, 250, 400) and full.dtype == torch.uint8
    assert int(full.sum()) == total
    assert int(full[0].sum()) == first
    assert full[0, 0, :8].tolist() == row0 and full[0, 1, :8].tolist() == row1
    with SpikeStream(path) as stream:
        assert len(stream) == frames
        assert int(stream[0:frames].sum()) == total
        assert int(stream[0].sum()) == first and stream[0][1, :8].tolist() == row1
        chunks = list(stream.iter_chunks(64))
        assert [c.shape[0] for c in chunks][:-1] == [64] * (len(chunks) - 1)
        assert sum(int(c.sum(dtype=torch.int64)) for c in chunks) == total
        assert torch.equal(torch.cat(chunks), full)


def test_shared_file_matches_numpy_decoder_and_repacks_byte_exact(shared_data, tmp_path):
    path = shared_data / "reds41/spike/000_part1_key_id21.dat"
    raw = np.fromfile(path, np.uint8)
    spikes = read_dat(path)
    expected = np.unpackbits(raw, bitorder="little").reshape(41, 250, 400)[:, ::-1]
    assert np.array_equal(spikes.numpy(), expected)
    out = write_dat(tmp_path / "copy.dat", spikes)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("shape", [(5, 250, 400), (3, 5, 7), (2, 250, 250), (4, 1, 1), (2, 3, 8), (1, 9, 13)])
@pytest.mark.parametrize("flip", [True, False])
def test_kernels_match_plain_reference(shape, flip, cpu_path):
    g = torch.Generator().manual_seed(sum(shape))
    spikes = torch.randint(0, 2, shape, dtype=torch.uint8, generator=g)
    packed = ops.pack_spikes(spikes, flip)
    if shape[1] * shape[2] <= 2000:
        assert np.array_equal(packed.numpy(), reference_pack(spikes.numpy(), flip))
        assert np.array_equal(ops.unpack_spikes(packed, shape[1], shape[2], flip).numpy(),
                              reference_unpack(packed.numpy().reshape(-1), *shape, flip))
    assert torch.equal(ops.unpack_spikes(packed, shape[1], shape[2], flip), spikes)


def test_padding_bits_are_zero():
    spikes = torch.ones(2, 3, 5, dtype=torch.uint8)  # 15 bits -> 2 bytes, the last bit is padding
    packed = ops.pack_spikes(spikes)
    assert packed.tolist() == [[255, 127], [255, 127]]


@pytest.mark.parametrize("shape", [(5, 250, 400), (3, 5, 7), (2, 250, 250)])
def test_write_read_round_trip(tmp_path, shape):
    spikes = torch.randint(0, 2, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    path = write_dat(tmp_path / "s.dat", spikes)
    assert path.stat().st_size == shape[0] * ((shape[1] * shape[2] + 7) // 8)
    assert torch.equal(read_dat(path, shape[1], shape[2]), spikes)
    assert torch.equal(read_dat(path), spikes)  # size from the sidecar
    assert torch.equal(SpikeStream(path)[:], spikes)


def test_bool_and_ndarray_inputs(tmp_path):
    spikes = np.random.default_rng(0).random((3, 6, 10)) < 0.5
    write_dat(tmp_path / "b.dat", spikes)
    write_dat(tmp_path / "u.dat", torch.from_numpy(spikes.astype(np.uint8)))
    assert (tmp_path / "b.dat").read_bytes() == (tmp_path / "u.dat").read_bytes()
    assert np.array_equal(read_dat(tmp_path / "b.dat").numpy(), spikes)


def test_real_250x250_recording_round_trip(shared_data, tmp_path):
    spikes = read_npz(shared_data / "real/uhsr_caltech_4144_helicopter.npz")
    assert spikes.shape == (200, 250, 250) and spikes.dtype == torch.uint8
    path = spikekit.npz_to_dat(shared_data / "real/uhsr_caltech_4144_helicopter.npz", tmp_path / "heli.dat")
    assert path.stat().st_size == 200 * 7813  # 62,500 bits -> 7,812.5 bytes -> padded to 7,813
    back = read_dat(path)  # 250 x 250 from the sidecar
    assert torch.equal(back, spikes)
    write_dat(tmp_path / "again.dat", back, sidecar=False)
    assert (tmp_path / "again.dat").read_bytes() == path.read_bytes()
    assert 0.02 < float(spikes.float().mean()) < 0.04  # a dark scene, as documented


@pytest.mark.parametrize("start,stop", [(0, 1), (0, 301), (150, 151), (7, 48), (300, None), (100, 299)])
def test_windowed_reads_equal_slices(shared_data, start, stop):
    path = shared_data / "reds301/spike/203_part2_key_id151.dat"
    full = read_dat(path)
    window = read_dat(path, start=start, stop=stop)
    assert torch.equal(window, full[start:stop])
    with SpikeStream(path) as stream:
        assert torch.equal(stream[start:stop], full[start:stop])
        assert torch.equal(stream.packed(start, stop), torch.from_numpy(
            np.fromfile(path, np.uint8).reshape(301, -1)[start:stop]))


def test_stream_indexing(tmp_path):
    spikes = torch.randint(0, 2, (10, 4, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    with SpikeStream(write_dat(tmp_path / "s.dat", spikes), rate=20000) as stream:
        assert stream.rate == 20000 and stream.duration == pytest.approx(10 / 20000)
        assert torch.equal(stream[-1], spikes[-1])
        assert torch.equal(stream[2:9:3], spikes[2:9:3])
        assert torch.equal(torch.cat(list(stream.iter_chunks(4, start=1, stop=8))), spikes[1:8])
        assert torch.equal(torch.cat(list(stream.iter_chunks(3, packed=True))), ops.pack_spikes(spikes))
        with pytest.raises(IndexError, match=r"valid: -10 <= index < 10"):
            stream[10]
        with pytest.raises(ValueError, match="0 <= start < stop <= 10"):
            stream.packed(5, 11)
        with pytest.raises(ValueError, match="positive"):
            next(stream.iter_chunks(0))


def test_ranges_past_the_end_raise_value_error_never_a_shorter_result(tmp_path):
    spikes = torch.randint(0, 2, (3, 4, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    path = write_dat(tmp_path / "three.dat", spikes)
    with pytest.raises(ValueError, match=r"\[2, 4\) is outside the stream; valid: 0 <= start < stop <= 3"):
        read_dat(path, start=2, stop=4)
    with SpikeStream(path) as stream:
        with pytest.raises(ValueError, match="0 <= start < stop <= 3"):
            stream.decode(2, 4)
        with pytest.raises(ValueError, match="slice stop 4 is past the end of the 3-frame stream"):
            stream[2:4]
        with pytest.raises(ValueError, match="slice start -4 is past the end"):
            stream[-4:]
        assert torch.equal(stream[1:], spikes[1:]) and torch.equal(stream[:3], spikes)
        assert torch.equal(stream[-2:], spikes[-2:])


@pytest.mark.parametrize("flip", [True, False])
def test_readers_honour_the_sidecar_flip(tmp_path, flip):
    spikes = torch.zeros(2, 4, 8, dtype=torch.uint8)
    spikes[:, 0] = 1  # the top row only: a flip mistake puts it at the bottom
    path = write_dat(tmp_path / "s.dat", spikes, flip=flip)
    assert json.loads((tmp_path / "s.dat.json").read_text())["flip"] is flip
    assert torch.equal(read_dat(path), spikes)
    with SpikeStream(path) as stream:
        assert stream.flip is flip and torch.equal(stream[0:2], spikes)
    assert torch.equal(read_dat(path, flip=not flip), spikes.flip(1))  # an explicit argument wins


def test_bad_sidecar_flip_names_the_sidecar(tmp_path):
    path = write_dat(tmp_path / "s.dat", torch.zeros(1, 4, 8, dtype=torch.uint8))
    (tmp_path / "s.dat.json").write_text(json.dumps({"height": 4, "width": 8, "flip": "yes"}))
    with pytest.raises(ValueError, match=r"s\.dat\.json: sidecar 'flip' must be true or false"):
        read_dat(path)


def test_read_dat_on_device_argument(tmp_path):
    spikes = torch.randint(0, 2, (3, 5, 7), dtype=torch.uint8)
    path = write_dat(tmp_path / "s.dat", spikes)
    assert torch.equal(read_dat(path, device="cpu"), spikes)


# --- bad input ------------------------------------------------------------------------------

def test_empty_and_short_files(tmp_path):
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.dat: 0 bytes is shorter than one 250x400 spike frame \(12500 bytes\)"):
        read_dat(empty)
    short = tmp_path / "short.dat"
    short.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match=r"short\.dat: 100 bytes .* \(12500 bytes\)"):
        SpikeStream(short)
    with pytest.raises(FileNotFoundError, match="missing.dat"):
        read_dat(tmp_path / "missing.dat")


def test_leftover_bytes_warn_or_raise(tmp_path):
    spikes = torch.randint(0, 2, (3, 250, 400), dtype=torch.uint8)
    path = tmp_path / "odd.dat"
    path.write_bytes(ops.pack_spikes(spikes).numpy().tobytes() + b"\x01\x02\x03")
    with pytest.warns(UserWarning, match="3 leftover bytes"):
        got = read_dat(path)
    assert torch.equal(got, spikes)
    with pytest.raises(ValueError, match="3 leftover bytes"):
        read_dat(path, strict=True)


def test_size_mismatch_lists_sizes_that_divide(tmp_path):
    path = tmp_path / "square.dat"
    path.write_bytes(bytes(7813 * 8))  # eight 250 x 250 frames read as 250 x 400
    with pytest.raises(ValueError, match=r"250x250 \(8 frames\).*--force"):
        read_dat(path)  # a common size divides the file: the size is wrong, not the file short
    with pytest.warns(UserWarning, match=r"250x250 \(8 frames\)"):
        assert read_dat(path, force=True).shape == (5, 250, 400)


@pytest.mark.parametrize("start,stop", [(-1, None), (0, 0), (5, 3), (0, 302), (301, None)])
def test_out_of_range_window(shared_data, start, stop):
    with pytest.raises(ValueError, match="0 <= start < stop <= 301"):
        read_dat(shared_data / "reds301/spike/200_part1_key_id151.dat", start=start, stop=stop)


@pytest.mark.parametrize("h,w", [(0, 400), (250, -1), (2.5, 4)])
def test_bad_frame_size(tmp_path, h, w):
    path = tmp_path / "x.dat"
    path.write_bytes(bytes(100))
    with pytest.raises(ValueError, match="height|width"):
        read_dat(path, h, w)


@pytest.mark.parametrize("bad", [torch.full((2, 3, 4), 2, dtype=torch.uint8), torch.zeros(3, 4, dtype=torch.uint8),
                                 torch.zeros(2, 3, 4), [[0, 1]]])
def test_bad_spikes_on_write_leave_no_file(tmp_path, bad):
    path = tmp_path / "out.dat"
    with pytest.raises((ValueError, TypeError)):
        write_dat(path, bad)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = write_dat(tmp_path / "keep.dat", torch.ones(2, 3, 4, dtype=torch.uint8), sidecar=False)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ops, "pack_spikes", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        write_dat(path, torch.zeros(2, 3, 4, dtype=torch.uint8), sidecar=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.dat"]


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", spk=np.full((2, 3, 4), 3, np.uint8))
    with pytest.raises(ValueError, match="bad.npz"):
        read_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 3, 4), np.uint8), b=np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(KeyError, match=r"\['a', 'b'\]"):
        read_npz(tmp_path / "two.npz")
    assert read_npz(tmp_path / "two.npz", key="b").shape == (2, 3, 4)


# --- ops: opcheck and devices ----------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    spikes = torch.randint(0, 2, (3, 5, 7), dtype=torch.uint8, device=device)
    packed = ops.pack_spikes(spikes)
    torch.library.opcheck(torch.ops.spikekit.pack_spikes.default, (spikes, True))
    torch.library.opcheck(torch.ops.spikekit.unpack_spikes.default, (packed, 5, 7, True))
    out = torch.empty(3, 5, 7, dtype=torch.uint8, device=device)
    torch.library.opcheck(torch.ops.spikekit.unpack_spikes.out, (packed, 5, 7, False), {"out": out})


def test_ops_under_torch_compile():
    spikes = torch.randint(0, 2, (2, 6, 10), dtype=torch.uint8)

    @torch.compile(backend="eager", fullgraph=True)
    def round_trip(x):
        return ops.unpack_spikes(ops.pack_spikes(x), 6, 10)

    assert torch.equal(round_trip(spikes), spikes)


def test_op_argument_errors_name_op_and_argument():
    with pytest.raises(RuntimeError, match="spikekit::unpack_spikes: packed must have ceil"):
        ops.unpack_spikes(torch.zeros(2, 4, dtype=torch.uint8), 5, 7)
    with pytest.raises(RuntimeError, match="spikekit::pack_spikes: spikes must be uint8"):
        ops.pack_spikes(torch.zeros(2, 5, 7))
    with pytest.raises(RuntimeError, match="height and width must be > 0"):
        ops.unpack_spikes(torch.zeros(2, 0, dtype=torch.uint8), 0, 7)


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(5, 250, 400), (3, 5, 7), (2, 250, 250)])
def test_cuda_kernels_match_cpu(shape):
    spikes = torch.randint(0, 2, shape, dtype=torch.uint8)
    for flip in (True, False):
        packed = ops.pack_spikes(spikes, flip)
        assert torch.equal(ops.pack_spikes(spikes.cuda(), flip).cpu(), packed)
        assert torch.equal(ops.unpack_spikes(packed.cuda(), shape[1], shape[2], flip).cpu(), spikes)


@pytest.mark.cuda
def test_read_dat_cuda(shared_data):
    path = shared_data / "reds41/spike/000_part1_key_id21.dat"
    assert torch.equal(read_dat(path, device="cuda").cpu(), read_dat(path))


@pytest.mark.parametrize("shape", [(7, 250, 400), (300, 3, 5), (2, 250, 250), (600, 2, 9)])
@pytest.mark.parametrize("flip", [True, False])
def test_spike_counts_match_decoded_sums(shape, flip, cpu_path):
    spikes = (torch.rand(shape, generator=torch.Generator().manual_seed(5)) < 0.7).to(torch.uint8)
    pixels, frames = ops.spike_counts(ops.pack_spikes(spikes, flip), shape[1], shape[2], flip)
    assert torch.equal(pixels, spikes.to(torch.int64).sum(dim=0))
    assert torch.equal(frames, spikes.to(torch.int64).sum(dim=(1, 2)))


@pytest.mark.parametrize("device", DEVICES)
def test_spike_counts_opcheck_and_device(device):
    spikes = torch.randint(0, 2, (4, 5, 7), dtype=torch.uint8)
    packed = ops.pack_spikes(spikes).to(device)
    torch.library.opcheck(torch.ops.spikekit.spike_counts.default, (packed, 5, 7, True))
    pixels, frames = ops.spike_counts(packed, 5, 7)
    assert torch.equal(pixels.cpu(), spikes.to(torch.int64).sum(0))
    assert torch.equal(frames.cpu(), spikes.to(torch.int64).sum((1, 2)))


def test_written_files_get_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_dat(tmp_path / "p.dat", torch.zeros(1, 2, 8, dtype=torch.uint8))
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "p.dat.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("head,what", [(b"\x89PNG\r\n\x1a\n", "PNG image"), (b"PK\x03\x04", "ZIP archive"),
                                       (b"\x00\x00\x00\x18ftypisom", "MP4/MOV video")])
def test_other_formats_are_not_decoded_as_spikes(tmp_path, head, what):
    path = tmp_path / "notes.dat"
    path.write_bytes(head + bytes(12500 * 2))
    with pytest.raises(ValueError, match=f"notes.dat: this is an? {what}"):
        read_dat(path)


def test_npz_reader_names_a_non_array_file(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"image\.png: not a NumPy \.npz/\.npy array file"):
        read_npz(path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_folder_error_names_the_target():
    from spikekit.io import atomic_output

    with pytest.raises(OSError, match=r"cannot write /proc/out\.dat: "):  # even root cannot create files there
        with atomic_output("/proc/out.dat"):
            pass


def test_sigterm_leaves_no_temporary_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time, torch; from spikekit.io import atomic_output\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'x'); print('ready', flush=True); time.sleep(60)\n")
    runner = ("import runpy, sys, signal; from spikekit import cli\n"
              "signal.signal(signal.SIGTERM, cli._exit_on_sigterm)\n"
              f"exec(compile({code!r}, 'job', 'exec'))\n")
    proc = subprocess.Popen([sys.executable, "-c", runner, str(tmp_path / "out.dat")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
