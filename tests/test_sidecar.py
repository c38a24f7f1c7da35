"""Hand-written sidecars (issue 33 item 1): every field checked in one place, every error one
line naming the sidecar or the file, and no frame size that makes a reader allocate beyond the
stated bound; the seeded fuzzer of tests/fuzz_readers.py over 1,000 cases."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from spikekit.cli import main
from spikekit.io import SpikeStream, read_dat, read_sidecar, write_dat
from spikekit.io.sidecar import MAX_FRAME_PIXELS, MAX_SIDECAR_BYTES, check_field

import fuzz_readers

HERE = Path(__file__).resolve().parent


@pytest.fixture
def stream(tmp_path) -> Path:
    """A 3-frame 4 x 8 stream with a valid sidecar, to be overwritten by each case."""
    return write_dat(tmp_path / "s.dat", torch.zeros(3, 4, 8, dtype=torch.uint8))


# The hostile values, each with the words its message must hold.
BAD_FIELDS = [
    ("rate", "null", "got None"), ("rate", "[]", "got []"), ("rate", "{}", "got {}"),
    ("rate", '"fast"', "got 'fast'"), ("rate", "NaN", "got nan"), ("rate", "Infinity", "got inf"),
    ("rate", "0", "got 0"), ("rate", "true", "got True"),
    ("head", "null", "got None"), ("head", "4294967304", "got 4294967304"), ("head", "1e999", "got inf"),
    ("head", "1e-300", "got 1e-300"), ("head", "-1", "got -1"), ("head", "16.0", "got 16.0"),
    ("height", "65536.5", "got 65536.5"), ("height", '"250"', "got '250'"), ("height", "0", "got 0"),
    ("width", "9223372036854775808", "got 9223372036854775808"), ("flip", "1", "got 1"),
]


@pytest.mark.parametrize("field,text,got", BAD_FIELDS)
def test_each_bad_field_is_one_error_naming_the_sidecar_and_field(stream, field, text, got):
    meta = {"height": "4", "width": "8", "flip": "true", field: text}
    (stream.parent / "s.dat.json").write_text("{" + ", ".join(f'"{k}": {v}' for k, v in meta.items()) + "}")
    with pytest.raises(ValueError) as info:
        read_dat(stream)
    message = str(info.value)
    assert message.startswith(f"{stream}.json: sidecar '{field}' must be ") and got in message
    result = CliRunner().invoke(main, ["info", str(stream)])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert f"Error: {stream}.json: sidecar '{field}' must be" in result.output


@pytest.mark.parametrize("text,words", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"height": 4,', "unreadable spike-stream sidecar"),
    ("[250, 400]", "must hold a JSON object"),
    ("\udcff", "unreadable spike-stream sidecar"),
])
def test_unreadable_sidecars_name_the_sidecar(stream, text, words):
    (stream.parent / "s.dat.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=words) as info:
        SpikeStream(stream)
    assert str(info.value).startswith(f"{stream}.json: ")


def test_a_sidecar_too_large_to_be_one_is_not_read(stream):
    (stream.parent / "s.dat.json").write_text(json.dumps({"height": 4, "width": 8, "pad": "x" * MAX_SIDECAR_BYTES}))
    with pytest.raises(ValueError, match=f"bytes; a sidecar has at most {MAX_SIDECAR_BYTES}"):
        read_sidecar(stream)


def test_arguments_are_checked_like_the_sidecar_and_name_the_file(stream):
    for kwargs, words in [({"rate": float("nan")}, "rate= must be a number of spike frames per second"),
                          ({"height": 0}, "height= must be a positive integer"),
                          ({"head": -1}, "head= must be a non-negative integer"),
                          ({"flip": "yes"}, "flip= must be true or false")]:
        with pytest.raises(ValueError, match=words) as info:
            SpikeStream(stream, **kwargs)
        assert str(info.value).startswith(f"{stream}: ")


def test_valid_fields_are_normalised():
    assert check_field("rate", 20000, "x") == 20000.0 and isinstance(check_field("rate", 20000, "x"), float)
    assert check_field("height", MAX_FRAME_PIXELS, "x") == MAX_FRAME_PIXELS
    assert check_field("head", 0, "x") == 0 and check_field("flip", False, "x") is False


def test_a_huge_frame_that_fits_a_sparse_file_is_refused_before_allocating(tmp_path):
    # The case: 65536 x 65536 is one 512 MiB frame of a 512 MiB sparse file, and `info`
    # went past 11 GB. Refused from the size alone, before the file is mapped or anything allocated.
    path = tmp_path / "sparse.dat"
    with open(path, "wb") as f:
        f.truncate(65536 * 65536 // 8)
    (tmp_path / "sparse.dat.json").write_text('{"height": 65536, "width": 65536}')
    with pytest.raises(ValueError, match=r"sparse\.dat: a 65536 x 65536 spike frame \(height, width from "
                                         r"sparse\.dat\.json\) has 4294967296 pixels, more than spikekit reads"):
        SpikeStream(path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1 and "more than spikekit reads (8388608)" in result.output


def test_a_frame_larger_than_the_file_names_where_the_size_came_from(stream):
    (stream.parent / "s.dat.json").write_text('{"height": 400, "width": 250}')
    with pytest.raises(ValueError, match=r"shorter than one 400x250 spike frame \(height, width from s\.dat\.json\)"):
        read_dat(stream)


def test_the_fuzzer_counts_what_it_should():
    """The fuzzer's own classification: an undocumented exception, an unnamed ValueError."""
    out = fuzz_readers.Outcome()
    fuzz_readers._call(out, 0, "f.dat", lambda: int(None))
    fuzz_readers._call(out, 0, "f.dat", lambda: (_ for _ in ()).throw(ValueError("size must be > 0")))
    fuzz_readers._call(out, 0, "f.dat", lambda: (_ for _ in ()).throw(ValueError("f.dat: too short")))
    assert out.counts == {"traceback": 1, "unnamed": 1} and out.failed_cases == 1


def test_fuzz_readers_1000_cases():
    """1,000 seeded cases (tests/fuzz_readers.py, a few seconds) in a process of its own with an
    address-space limit: no traceback, no unnamed error, no bad field accepted, no case above the
    memory bound."""
    run = subprocess.run([sys.executable, str(HERE / "fuzz_readers.py"), "--cases", "1000"],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    summary = json.loads(run.stdout)
    assert summary["cases"] >= 1000
    assert summary["failed_cases"] == 0, summary["examples"]
    assert summary["worst_case_mib"] <= summary["memory_bound_mib"]
    assert run.returncode == 0, run.stderr[-2000:]



def test_writers_refuse_frames_no_reader_reads(tmp_path, monkeypatch):
    """write_dat and simulate_to_file check the same bound as the readers (a smaller one here,
    so that the test allocates little), before writing anything."""
    import spikekit.io.dat as dat
    from spikekit.simulate import simulate_to_file

    monkeypatch.setattr(dat, "MAX_FRAME_PIXELS", 64)
    with pytest.raises(ValueError, match=r"big\.dat: a 8 x 9 spike frame has 72 pixels, more than spikekit reads \(64\)"):
        write_dat(tmp_path / "big.dat", torch.zeros(2, 8, 9, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"sim\.dat: a 8 x 9 spike frame \(the video's size; --size makes it smaller\)"):
        simulate_to_file(torch.zeros(2, 8, 9), tmp_path / "sim.dat", steps_per_frame=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    write_dat(tmp_path / "ok.dat", torch.zeros(2, 8, 8, dtype=torch.uint8))  # 64 pixels: at the bound


def test_a_decode_larger_than_the_memory_available_is_refused_before_allocating(stream, monkeypatch):
    import spikekit._memory as memory

    assert memory.available_bytes() > 0  # read from /proc/meminfo (and a cgroup limit) here
    monkeypatch.setattr(memory, "CHECKED_ABOVE", 0)
    monkeypatch.setattr(memory, "available_bytes", lambda: 3 * 4 * 8 - 1)  # one byte short of 3 frames
    with SpikeStream(stream) as s:
        assert s.decode(0, 2).shape == (2, 4, 8)
        with pytest.raises(MemoryError, match=r"s\.dat: decoding spike frames \[0, 3\) of 4 x 8 needs"):
            s.decode(0, 3)
