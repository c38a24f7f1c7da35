"""spikekit.noref: NIQE and BRISQUE against independent implementations.

References, computed live in the test (nothing hard-coded):
- NIQE: scikit-video 1.1.11's ``skvideo.measure.niqe`` (the implementation the pristine model
  comes from). It predates NumPy 2 and SciPy 1.3, so the test restores the two names it calls
  that were removed since: ``np.int`` (= ``int``) and ``scipy.misc.imresize`` (its float mode
  'F' path was PIL's ``Image.resize`` with BICUBIC on a mode-'F' image; re-created here as such).
- NIQE on MATLAB's scale: basicsr 1.4.2's ``basicsr/metrics/niqe.py`` (``niqe``, which its authors
  checked against MATLAB's niqe.m, with its ``imresize`` of ``basicsr/utils/matlab_functions.py``),
  loaded from the installed package's files with the three package modules it imports for other
  functions stubbed out (importing ``basicsr`` itself pulls in its training stack).
- BRISQUE: the ``brisque`` 0.2.0 package's own feature code (``BRISQUE.calculate_brisque_features``
  with OpenCV's resize) and its libsvm regressor (``calculate_image_quality_score``). Its
  ``score()`` fails on NumPy 2 (it calls ``float`` on shape-(1,) arrays), so the test flattens the
  features itself before the regressor.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2gray

from spikekit.noref import brisque, niqe, niqe_matlab


def _images():
    """Five 250 x 400 grayscale photographs in [0, 1] (skimage.data)."""
    return {"camera": skimage.data.camera() / 255.0, "astronaut": rgb2gray(skimage.data.astronaut()),
            "coffee": rgb2gray(skimage.data.coffee()), "chelsea": rgb2gray(skimage.data.chelsea()),
            "moon": skimage.data.moon() / 255.0}


IMAGES = {name: image[:250, :400] for name, image in _images().items()}


@pytest.fixture
def skvideo_niqe(monkeypatch):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy.misc is deprecated
        import scipy.misc

    def imresize(arr, size, interp="bicubic", mode=None):
        im = Image.fromarray(np.asarray(arr, np.float32), mode="F")
        new = tuple((np.array(im.size) * size).astype(int))
        return np.asarray(im.resize(new, resample=Image.BICUBIC))

    monkeypatch.setattr(np, "int", int, raising=False)
    monkeypatch.setattr(scipy.misc, "imresize", imresize, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        measure = pytest.importorskip("skvideo.measure")
    return lambda image: float(measure.niqe(image * 255.0)[0])


@pytest.fixture
def brisque_package():
    cv2 = pytest.importorskip("cv2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        package = pytest.importorskip("brisque")
    model = package.BRISQUE(url=False)

    def score(image):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
            feats = np.concatenate((model.calculate_brisque_features(image, 7, 7 / 6),
                                    model.calculate_brisque_features(half, 7, 7 / 6)))
            return float(model.calculate_image_quality_score([float(np.ravel(f)[0]) for f in feats]))

    return score


@pytest.fixture
def basicsr_niqe(monkeypatch):
    import importlib.util
    import sys
    import types
    from pathlib import Path

    spec = importlib.util.find_spec("basicsr")
    if spec is None:
        pytest.skip("basicsr (NIQE's MATLAB-scale pristine model) is not installed")
    root = Path(list(spec.submodule_search_locations)[0])
    niqe_matlab(IMAGES["camera"])  # read our model before the package names are stubbed
    for name in ("basicsr", "basicsr.metrics", "basicsr.utils"):
        stub = types.ModuleType(name)
        stub.__path__ = []
        monkeypatch.setitem(sys.modules, name, stub)
    util = types.ModuleType("basicsr.metrics.metric_util")
    util.reorder_image = util.to_y_channel = None  # used only by calculate_niqe, not by niqe
    registry = types.ModuleType("basicsr.utils.registry")
    registry.METRIC_REGISTRY = types.SimpleNamespace(register=lambda: (lambda f: f))
    monkeypatch.setitem(sys.modules, "basicsr.metrics.metric_util", util)
    monkeypatch.setitem(sys.modules, "basicsr.utils.registry", registry)

    def load(name, path):
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        monkeypatch.setitem(sys.modules, name, module)
        module_spec.loader.exec_module(module)
        return module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy.ndimage.filters is deprecated
        load("basicsr.utils.matlab_functions", root / "utils" / "matlab_functions.py")
        module = load("basicsr.metrics.niqe", root / "metrics" / "niqe.py")
    params = np.load(root / "metrics" / "niqe_pris_params.npz")

    def score(image):  # calculate_niqe on a grayscale image: 0-255, rounded, then niqe
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nan blocks
            return float(module.niqe(np.round(image * 255.0), params["mu_pris_param"], params["cov_pris_param"],
                                     params["gaussian_window"]))

    return score


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_niqe_matlab_matches_basicsr(name, basicsr_niqe):
    assert niqe_matlab(IMAGES[name]) == pytest.approx(basicsr_niqe(IMAGES[name]), abs=0.01)


def test_niqe_matlab_on_spike_reconstructions_matches_basicsr(shared_data, basicsr_niqe):
    """Dark frames with flat black areas: blocks whose fits leave a side empty (NaN features)."""
    from spikekit.io import read_npz
    from spikekit.recon import get_method, reconstruct

    heli = read_npz(shared_data / "real/uhsr_caltech_4144_helicopter.npz")
    for name, extra in (("tfp", {"window": 41}), ("tfi", {})):
        image = reconstruct(get_method(name), heli, at=100, scale="auto", **extra).numpy().astype(np.float64)
        assert niqe_matlab(image) == pytest.approx(basicsr_niqe(image), abs=0.01)
    dark = np.zeros((200, 200))
    dark[50:150, 50:150] = np.random.default_rng(0).random((100, 100))
    assert niqe_matlab(dark) == pytest.approx(basicsr_niqe(dark), abs=0.01)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_niqe_matches_scikit_video(name, skvideo_niqe):
    assert niqe(IMAGES[name]) == pytest.approx(skvideo_niqe(IMAGES[name]), abs=0.01)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_brisque_matches_the_brisque_package(name, brisque_package):
    assert brisque(IMAGES[name]) == pytest.approx(brisque_package(IMAGES[name]), abs=0.01)


def test_noise_and_blur_score_worse_than_the_photograph():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    image = _images()["camera"]
    noisy = np.clip(image + rng.normal(0, 0.1, image.shape), 0, 1)
    blurred = gaussian_filter(image, 3)
    for metric in (niqe, brisque):
        assert metric(noisy) > metric(image) + 5
        assert metric(blurred) > metric(image) + 5


def test_inputs_checked():
    with pytest.raises(ValueError, match="at least 193 x 193"):
        niqe(np.zeros((100, 400)))
    with pytest.raises(ValueError, match="2-D"):
        brisque(np.zeros((2, 50, 50)))
    with pytest.raises(ValueError, match="NaN"):
        brisque(np.full((50, 50), np.nan))


def test_eval_metric_json_rows(shared_data):
    import json

    from click.testing import CliRunner

    from spikekit.cli import main
    from spikekit.io import read_dat

    dat = shared_data / "reds301/spike/200_part1_key_id151.dat"
    result = CliRunner().invoke(main, ["eval", str(dat), "--at", "150", "--metric", "niqe",
                                       "--metric", "brisque", "-m", "tfp", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert set(row) == {"method", "params", "window", "at", "niqe", "brisque"}
    from spikekit.recon import tfp

    image = tfp(read_dat(dat), window=41, at=150).numpy()
    assert row["niqe"] == pytest.approx(niqe(image), abs=1e-9)
    assert row["brisque"] == pytest.approx(brisque(image), abs=1e-9)
    # The plain TFP (float64) differs from the kernel's float32 one by 6e-8, which moves NIQE
    # (float32 on the 0-255 scale, as its model was fitted) by about 0.01.
    plain = np.clip(read_dat(dat, start=130, stop=171).numpy().mean(0) / 0.6, 0, 1)
    assert row["niqe"] == pytest.approx(niqe(plain), abs=0.05)
    assert row["brisque"] == pytest.approx(brisque(plain), abs=1e-2)
    nothing = CliRunner().invoke(main, ["eval", str(dat), "--at", "150"])
    assert nothing.exit_code == 2 and "--metric niqe|brisque" in nothing.output
