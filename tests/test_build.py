"""Build checks: the csrc/ layout, every CUDA source compiles with nvcc; version/build facts; the CLI
entry points."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import spikekit
from spikekit.cli import main
from spikekit.io import write_dat

from conftest import REPO

CSRC = REPO / "csrc"
CUDA_SOURCES = sorted(CSRC.glob("*/kernel.cu"))
FAMILIES = sorted(p.parent for p in CSRC.glob("*/cpu.cpp"))
SHARED = CSRC / "common"


def test_every_csrc_file_sits_in_its_family_folder_or_the_shared_headers():
    """csrc/ holds spikekit.cpp (the schemas), csrc/common/ (headers only) and one folder per op
    family: math.h and cpu.cpp always, kernel.cu with its kernel.h and binding.cpp when it has CUDA
    kernels; nothing nested deeper."""
    assert {p.name for p in FAMILIES} >= {"bits", "recon", "simulate", "tfstp"}
    for path in sorted(CSRC.rglob("*")):
        rel = path.relative_to(CSRC)
        if path.is_dir():
            assert len(rel.parts) == 1 and (path == SHARED or path in FAMILIES), f"csrc/{rel}: not a family folder"
            continue
        assert len(rel.parts) == 2 or rel == Path("spikekit.cpp"), f"csrc/{rel}: outside the family folders"
        if path.parent == SHARED:
            assert path.suffix == ".h", f"csrc/{rel}: csrc/common/ holds headers only"
    for family in FAMILIES:
        assert (family / "math.h").is_file(), f"{family.name}: no per-element math.h"
        if (family / "kernel.cu").exists():
            assert (family / "kernel.h").is_file() and (family / "binding.cpp").is_file(), family.name


def test_the_cuda_helpers_have_one_home():
    """The grid-stride loop and the launch check are written once, in csrc/common/cuda.h."""
    sources = {p: p.read_text() for p in CSRC.rglob("*") if p.suffix in (".h", ".cpp", ".cu")}
    loops = [p for p, text in sources.items() if "gridDim.x" in text]
    checks = [p for p, text in sources.items() if "void check_launch(" in text]
    assert loops == [SHARED / "cuda.h"] and checks == [SHARED / "cuda.h"], (loops, checks)


def _nvcc():
    return shutil.which("nvcc")


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not installed")
@pytest.mark.parametrize("source", CUDA_SOURCES, ids=[p.parent.name for p in CUDA_SOURCES])
def test_cuda_source_compiles_with_nvcc(source, tmp_path):
    result = subprocess.run([_nvcc(), "-std=c++17", "-O1", "-arch=sm_90", "-c", str(source),
                             "-o", str(tmp_path / "out.o")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]


BINDINGS = sorted(CSRC.glob("*/binding.cpp"))


def _cuda_include():
    from torch.utils import cpp_extension

    homes = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), cpp_extension.CUDA_HOME, "/usr/local/cuda"]
    for home in filter(None, homes):
        if (Path(home) / "include" / "cuda_runtime.h").is_file():
            return Path(home) / "include"
    return None


@pytest.mark.skipif(shutil.which("g++") is None or _cuda_include() is None, reason="g++ or CUDA headers missing")
@pytest.mark.parametrize("source", BINDINGS, ids=[p.parent.name for p in BINDINGS])
def test_cuda_binding_syntax(source, tmp_path):
    """The torch bindings of the CUDA kernels parse and type-check against torch's headers.

    A CPU torch wheel lacks the generated c10/cuda/impl/cuda_cmake_macros.h; an empty stand-in is
    enough for a syntax check (nothing is linked).
    """
    from torch.utils import cpp_extension

    stub = tmp_path / "c10" / "cuda" / "impl"
    stub.mkdir(parents=True)
    (stub / "cuda_cmake_macros.h").write_text("#pragma once\n")
    includes = [f"-I{p}" for p in cpp_extension.include_paths()]
    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-DSPIKEKIT_WITH_CUDA=1", *includes, f"-I{tmp_path}",
           f"-I{_cuda_include()}", f"-I{sysconfig.get_paths()['include']}", str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]


def test_there_are_cuda_sources():
    assert len(CUDA_SOURCES) >= 1


def test_version_and_build_info():
    runner = CliRunner()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0
    assert f"spikekit {spikekit.__version__}" in version.output and torch.__version__ in version.output
    assert ("CUDA kernels compiled" in version.output) == spikekit.ops.WITH_CUDA
    facts = json.loads(runner.invoke(main, ["info", "--build", "--json"]).output)
    assert facts["torch"] == torch.__version__
    assert facts["cuda_kernels"] is spikekit.ops.WITH_CUDA
    assert facts["openmp_threads"] == torch.get_num_threads()


def test_cpu_paths_are_listed_chosen_and_forced():
    """The CPU kernels' instruction-set path: the best one by default, any lower one on request,
    an unknown or unsupported one refused by name; --version names the path in use."""
    ops = spikekit.ops
    paths = ops.supported_cpu_capabilities()
    assert paths[0] == "default" and paths == ops.CPU_CAPABILITIES[:len(paths)]
    assert ops.cpu_best_capability() == paths[-1]
    before = ops.cpu_capability()
    try:
        for path in paths:
            ops.set_cpu_capability(path)
            assert ops.cpu_capability() == path
            assert f"CPU kernels {path}" in CliRunner().invoke(main, ["--version"]).output
        with pytest.raises(ValueError, match="'sse9': expected one of default"):
            ops.set_cpu_capability("sse9")
        if paths[-1] != "avx512":
            with pytest.raises(ValueError, match="this CPU's best"):
                ops.set_cpu_capability("avx512")
    finally:
        ops.set_cpu_capability(before)


@pytest.mark.parametrize("value, path, warns", [("default", "default", False), ("Default", "default", False),
                                                ("", None, False), ("sse9", None, True)])
def test_environment_variable_forces_a_lower_path(value, path, warns):
    env = dict(os.environ, SPIKEKIT_CPU_CAPABILITY=value)
    out = subprocess.run([sys.executable, "-m", "spikekit", "--version"], capture_output=True, text=True,
                         timeout=120, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    best = spikekit.ops.cpu_best_capability()
    assert f"CPU kernels {path or best}" in out.stdout
    if warns:  # one line naming the variable, what it takes and the path used instead
        assert out.stderr.count("\n") == 1 and "SPIKEKIT_CPU_CAPABILITY='sse9' ignored" in out.stderr
        assert "expected one of default, avx2, avx512" in out.stderr
    else:
        assert out.stderr == ""


def test_the_build_is_portable():
    """No -march/-m<isa> flag: the library is built for baseline x86-64 and every vector
    instruction (ymm/zmm registers) sits in a function compiled for its own path (run_avx2,
    run_avx512 and what they call), which runs only on a CPU that has it."""
    flags = _setup_module()._extension().extra_compile_args["cxx"]
    assert not [f for f in flags if f.startswith(("-march", "-mavx", "-mtune=native"))], flags
    objdump = shutil.which("objdump")
    if objdump is None or not sysconfig.get_platform().endswith("x86_64"):
        pytest.skip("objdump or x86-64 not available")
    library = Path(spikekit._C.__file__)
    listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", str(library)], capture_output=True,
                             text=True, timeout=300).stdout
    function, offenders, vector_functions = "", set(), set()
    for line in listing.splitlines():
        if line.endswith(">:"):
            function = line
        elif "%ymm" in line or "%zmm" in line:
            vector_functions.add(function)
            if "_avx2" not in function and "_avx512" not in function:
                offenders.add(function)
    assert vector_functions, "no AVX code at all: the per-path kernels were not built"
    assert not offenders, sorted(offenders)[:5]


def test_python_m_spikekit_is_the_same_program():
    out = subprocess.run([sys.executable, "-m", "spikekit", "--version"], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0 and out.stdout.startswith(f"spikekit {spikekit.__version__}")
    assert "info" in subprocess.run([sys.executable, "-m", "spikekit", "--help"], capture_output=True,
                                    text=True, timeout=120).stdout


def test_a_folder_named_spikekit_in_the_working_directory_does_not_shadow_the_package(tmp_path):
    """A clone is a folder named ``spikekit``; run from the folder above it, ``import spikekit``
    must still find the installed package, not an empty namespace package (issue 29, item 4: the
    src/ layout makes the editable install a plain sys.path entry)."""
    clone = tmp_path / "spikekit"
    (clone / "src").mkdir(parents=True)
    (clone / "README.md").write_text("a checkout\n")
    probe = "import spikekit, ssml; print(spikekit.SpikeStream.__name__, ssml.load_model.__name__, spikekit.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    name, loader, where = out.stdout.split()
    assert (name, loader) == ("SpikeStream", "load_model") and not Path(where).is_relative_to(clone)
    version = subprocess.run([sys.executable, "-m", "spikekit", "--version"], capture_output=True, text=True,
                             cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith(f"spikekit {spikekit.__version__},"), version.stderr


def test_the_packages_live_under_src():
    """The repository root holds no importable package folder (the src/ layout of issue 29, item 4)."""
    assert (REPO / "src" / "spikekit" / "__init__.py").is_file() and (REPO / "src" / "ssml" / "__init__.py").is_file()
    assert not [p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()]


def test_info_json_on_shared_file(shared_data):
    result = CliRunner().invoke(main, ["info", str(shared_data / "reds301/spike/200_part1_key_id151.dat"), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert {k: stats[k] for k in ("frames", "height", "width", "total_spikes")} == {
        "frames": 301, "height": 250, "width": 400, "total_spikes": 8658838}
    assert stats["mean_rate"] == pytest.approx(8658838 / (301 * 250 * 400))
    assert stats["dead_pixels"] >= 0 and stats["hot_pixels"] >= 0


def test_info_counts_dead_and_hot_pixels_and_writes_preview(tmp_path):
    spikes = torch.zeros(100, 4, 8, dtype=torch.uint8)
    spikes[:, 0, 0] = 1              # hot: fires in every frame, its neighbours in 50% or none
    spikes[:91, 0, 1] = 1            # saturated (91% > 90%), not hot: its neighbour (0, 0) fires as often
    spikes[:90, 0, 2] = 1            # not saturated: exactly 90%
    spikes[::2, 1:, :] = 1           # 50%: rows 1-3
    path = write_dat(tmp_path / "s.dat", spikes)
    preview = tmp_path / "p.png"
    result = CliRunner().invoke(main, ["info", str(path), "--json", "--rate", "20000", "--preview", str(preview)])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["saturated_pixels"] == 2 and stats["dead_pixels"] == 5  # row 0, columns 3..7
    assert stats["hot_pixels"] == 0  # (0, 0) and (0, 1) each have a saturated neighbour
    assert stats["frame_spikes_min"] == 1 and stats["frame_spikes_max"] == 27
    assert stats["duration_s"] == pytest.approx(100 / 20000)
    import imageio.v3 as iio
    image = iio.imread(preview)
    assert image.shape == (4, 8) and image[0, 0] == 255 and image[0, 5] == 0
    assert image[2, 2] == round(0.5 / 0.6 * 255)  # TFP of the first 64 frames: 32/64 / 0.6


def test_a_bright_scene_saturates_but_only_lone_pixels_are_hot(tmp_path):
    """Issue 29: a white car body was counted as faulty "hot pixels"."""
    from spikekit.stats import hot_mask

    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(200, 20, 30, generator=g) < 0.05).to(torch.uint8)  # a dark scene
    spikes[:, 5:15, 10:25] = (torch.rand(200, 10, 15, generator=g) < 0.97).to(torch.uint8)  # the white car
    spikes[:, 2, 3] = 1  # a faulty pixel: fires in every frame
    spikes[:, 17, 28] = 1
    stats = json.loads(CliRunner().invoke(main, ["info", str(write_dat(tmp_path / "car.dat", spikes)), "--json"]).output)
    assert stats["saturated_pixels"] >= 10 * 15 - 5 + 2 and stats["hot_pixels"] == 2
    counts = spikes.sum(0)
    assert hot_mask(counts, 200).nonzero().tolist() == [[2, 3], [17, 28]]
    result = CliRunner().invoke(main, ["info", str(tmp_path / "car.dat")])
    assert "hot pixels      2 (" in result.output and f"saturated       {stats['saturated_pixels']} pixels" in result.output


def test_info_human_output_and_errors(tmp_path):
    path = tmp_path / "bad.dat"
    path.write_bytes(bytes(50))
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code != 0
    assert "50 bytes is shorter than one 250x400 spike frame (12500 bytes)" in result.output
    assert "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["info", str(tmp_path / "nope.dat")])
    assert missing.exit_code != 0 and "not found" in missing.output
    odd = tmp_path / "odd.dat"
    odd.write_bytes(bytes(7813 * 3))
    result = CliRunner().invoke(main, ["info", str(odd)])
    assert "250x250 (3 frames)" in result.output


def test_convert_command(shared_data, tmp_path):
    out = tmp_path / "heli.dat"
    result = CliRunner().invoke(main, ["convert", str(shared_data / "real/uhsr_caltech_4144_helicopter.npz"), str(out)])
    assert result.exit_code == 0, result.output
    stats = json.loads(CliRunner().invoke(main, ["info", str(out), "--json"]).output)
    assert (stats["frames"], stats["height"], stats["width"]) == (200, 250, 250)


def _setup_module():
    """setup.py imported as a module (its setup() call runs only as __main__)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("spikekit_setup", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_requires_the_torch_minor_release_it_is_built_against():
    setup = _setup_module()
    assert setup.torch_requirement("2.13.0+cpu") == "torch==2.13.*"
    assert setup.torch_requirement("2.14.1") == "torch==2.14.*"
    major, minor = torch.__version__.split(".")[:2]
    assert setup.INSTALL_REQUIRES[0] == f"torch=={major}.{minor}.*"


# The sources whose compilation used to warn: torch's headers under -std=c++17 (every file) and
# GCC 12's AVX-512 intrinsics (the two files that use them); and the newest kernel.
_WARNED = ["csrc/recon/cpu.cpp", "csrc/simulate/cpu.cpp", "csrc/tfstp/cpu.cpp"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler")
@pytest.mark.parametrize("source", _WARNED)
def test_a_clean_build_prints_no_compiler_warning(source, tmp_path):
    """Compiled with the extension's own flags (setup.py) plus -Wall, as the build does."""
    ext = _setup_module()._extension()
    flags = [f"-I{p}" for p in ext.include_dirs] + ext.extra_compile_args["cxx"]
    cmd = ["c++", "-Wall", "-fPIC", *flags, f"-I{sysconfig.get_paths()['include']}",
           "-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C", "-c", str(REPO / source),
           "-o", str(tmp_path / "out.o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "warning" not in result.stderr, result.stderr[-4000:]
