"""Build spikekit and its C++/CUDA extension ``spikekit._C``.

C++ kernels (csrc/spikekit.cpp and each family's csrc/<family>/cpu.cpp) are always built. CUDA
kernels (csrc/<family>/kernel.cu and csrc/<family>/binding.cpp) are added only when the installed
torch has CUDA (``torch.version.cuda``) and nvcc is found; ``SPIKEKIT_NO_CUDA=1`` forces a
CPU-only build.
Install with ``pip install --no-build-isolation -e .`` after torch and ninja are installed
(build isolation would download a different, multi-GB torch). The entry points register the
``ssml`` package's methods and commands with spikekit (src/spikekit/plugins.py); an editable install
picks up a change to them only when reinstalled.
"""
import glob
import os
import shutil

import torch
from setuptools import find_packages, setup
from torch.utils import cpp_extension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(ROOT, "src", "spikekit", "_version.py")) as f:
        scope = {}
        exec(f.read(), scope)
    return scope["__version__"]


def _want_cuda():
    if os.environ.get("SPIKEKIT_NO_CUDA", "0") not in ("", "0"):
        return False
    has_nvcc = cpp_extension.CUDA_HOME is not None or shutil.which("nvcc") is not None
    return torch.version.cuda is not None and has_nvcc


def torch_requirement(version):
    """The torch an extension built against ``version`` runs with: the same minor release
    (``"2.13.0+cpu"`` -> ``"torch==2.13.*"``); its C++ ABI changes between minor releases."""
    major, minor = version.split("+")[0].split(".")[:2]
    return f"torch=={major}.{minor}.*"


INSTALL_REQUIRES = [
    torch_requirement(torch.__version__),  # the torch the extension is compiled against
    "numpy",
    "click>=8",
    "tqdm",
    "imageio>=2.28",
    "imageio-ffmpeg",
    "scikit-image>=0.21",
    "tensorboard",
    "pyyaml",
]


ENTRY_POINTS = {
    "console_scripts": ["spikekit=spikekit.cli:main"],
    # The ssml package is a plugin of the toolkit (src/spikekit/plugins.py): its methods and commands.
    "spikekit.methods": ["ssml=ssml.method:METHOD", "ssml-lite=ssml.method:LITE_METHOD"],
    "spikekit.commands": ["train=ssml.cli:train", "export=ssml.export:export", "adapt=ssml.adapt:adapt"],
}


def _system_includes():
    # torch's own headers as system headers: their warnings (e.g. C++20 bit-field initialisers
    # under -std=c++17) are not ours; GCC drops the matching -I that cpp_extension adds. Only
    # torch's folders: a CUDA include folder may be /usr/include, which -isystem must not reorder.
    return [flag for path in cpp_extension.include_paths("cpu") for flag in ("-isystem", path)]


def _extension():
    rel = lambda pattern: sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))
    sources = rel("csrc/spikekit.cpp") + rel("csrc/*/cpu.cpp")
    # No fused multiply-add contraction on either device: CPU and CUDA must give the same bits
    # (the simulator's spikes, the TFP/TFI values), so both round every operation alike.
    # No -march: the build targets baseline x86-64 (or aarch64) and runs on any such CPU; the
    # kernels are compiled once more for AVX2 and AVX-512 inside the same library and chosen when
    # it loads (csrc/common/dispatch.h). -fno-trapping-math lets GCC turn the per-element selects
    # into vector blends on every path (it changes no value, only floating-point exception flags).
    cxx = ["-O3", "-std=c++17", "-fopenmp", "-ffp-contract=off", "-fno-trapping-math"] + _system_includes()
    args = {"cxx": cxx}
    if _want_cuda():
        sources += rel("csrc/*/kernel.cu") + rel("csrc/*/binding.cpp")
        args["cxx"] = args["cxx"] + ["-DSPIKEKIT_WITH_CUDA=1"]
        args["nvcc"] = ["-O3", "-std=c++17", "-DSPIKEKIT_WITH_CUDA=1", "--fmad=false"] + _system_includes()
        return cpp_extension.CUDAExtension("spikekit._C", sources, extra_compile_args=args,
                                           extra_link_args=["-fopenmp"])
    return cpp_extension.CppExtension("spikekit._C", sources, extra_compile_args=args,
                                      extra_link_args=["-fopenmp"])


if __name__ == "__main__":  # (tests import this file for its flags and requirements)
    setup(
        name="spikekit",
        version=_version(),
        description="Spiking-camera toolkit: .dat I/O, simulator, TFP/TFI/TFSTP and SSML reconstruction",
        package_dir={"": "src"},
        packages=find_packages("src", include=["spikekit", "spikekit.*", "ssml", "ssml.*"]),
        package_data={"ssml": ["weights/*.pt", "weights/*.md"]},
        python_requires=">=3.9",
        install_requires=INSTALL_REQUIRES,
        extras_require={"test": ["pytest"]},
        entry_points=ENTRY_POINTS,
        ext_modules=[_extension()],
        cmdclass={"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)},
    )
