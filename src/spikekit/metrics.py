"""Image quality metrics (PSNR, SSIM via scikit-image) and ground-truth loading.

Conventions: images are float intensities in [0, 1] (data range 1); 8-bit ground truth is
divided by 255 (16-bit by 65535). Used by ``spikekit eval``, the simulator tests, SSML
validation and the demo. The no-reference metrics (NIQE, BRISQUE: no ground truth needed) live
in :mod:`spikekit.noref`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NO_REFERENCE_METRICS = ("niqe", "niqe-matlab", "brisque")
"""Names of the no-reference metrics (``spikekit eval --metric``; the functions are in
:data:`spikekit.noref.NO_REFERENCE`, kept apart so that the command line lists them without
importing SciPy)."""


def _as_image(image, name: str) -> np.ndarray:
    """A 2-D float64 array from a tensor/ndarray (H, W) or with leading singleton dims."""
    if hasattr(image, "detach"):  # torch.Tensor, without importing torch here
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image, dtype=np.float64)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) image (leading dims of size 1 allowed), "
                         f"got shape {np.shape(image)}")
    return array


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _as_image(pred, "pred"), _as_image(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt must have the same (H, W), got {pred.shape} and {gt.shape}")
    return pred, gt


def psnr(pred, gt) -> float:
    """Peak signal-to-noise ratio in dB, data range 1 (``skimage.metrics.peak_signal_noise_ratio``).

    Args:
        pred, gt: (H, W) images in [0, 1] (tensor or ndarray; leading size-1 dims allowed).

    Returns:
        PSNR in dB (``inf`` for identical images).

    Raises:
        ValueError: not 2-D, or shapes differ.
    """
    from skimage.metrics import peak_signal_noise_ratio

    pred, gt = _pair(pred, gt)
    if np.array_equal(pred, gt):
        return float("inf")
    return float(peak_signal_noise_ratio(gt, pred, data_range=1.0))


def masked_psnr(pred, gt, mask) -> float:
    """PSNR in dB (data range 1) over the pixels where ``mask`` is true: -10 log10 of the mean
    squared error there (``spikekit eval --static`` scores the static pixels of a recording,
    :mod:`spikekit.staticref`).

    Args:
        pred, gt: (H, W) images in [0, 1].  mask: bool (H, W), at least one pixel true.

    Raises:
        ValueError: shapes differ, or the mask selects no pixel.
    """
    pred, gt = _pair(pred, gt)
    mask = _as_image(mask, "mask").astype(bool)
    if mask.shape != pred.shape or not mask.any():
        raise ValueError(f"mask must be a (H, W) {pred.shape} array with at least one pixel set, got "
                         f"shape {mask.shape} with {int(mask.sum())} set")
    mse = float(np.mean((pred[mask] - gt[mask]) ** 2))
    return float("inf") if mse == 0 else float(-10.0 * np.log10(mse))


def ssim(pred, gt) -> float:
    """Structural similarity, data range 1 (``skimage.metrics.structural_similarity`` defaults:
    7x7 uniform window). Args/raises as :func:`psnr`; returns a value in [-1, 1]."""
    from skimage.metrics import structural_similarity

    pred, gt = _pair(pred, gt)
    return float(structural_similarity(gt, pred, data_range=1.0))


def load_gt(path) -> np.ndarray:
    """Load a ground-truth image as float32 (H, W) in [0, 1].

    8-bit images are divided by 255, 16-bit by 65535; RGB(A) is converted to luminance with
    ``skimage.color.rgb2gray`` (ITU-R BT.709 weights). A ``.npy`` array is read as such (float:
    intensities as they are, e.g. the demo's and ``spikekit simulate``'s exact ground truth).

    Raises:
        FileNotFoundError: missing file.  ValueError: unreadable or not an image.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth image not found: {path}")
    if path.suffix.lower() == ".dat":
        raise ValueError(f"{path}: this is a .dat spike stream; ground truth must be an image "
                         "(PNG, TIFF, ...) or a .npy array")
    try:
        image = np.load(path, allow_pickle=False) if path.suffix.lower() == ".npy" else iio.imread(path)
    except Exception as exc:  # imageio raises many types for bad files; its hints are about plugins
        raise ValueError(f"{path}: cannot read as a ground-truth image (PNG, TIFF, JPEG, .npy, ...)") from exc
    if image.dtype == np.uint8:
        scaled = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        scaled = image.astype(np.float32) / 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        scaled = image.astype(np.float32)
    else:
        raise ValueError(f"{path}: unsupported pixel type {image.dtype}")
    if scaled.ndim == 3 and scaled.shape[-1] in (3, 4):
        from skimage.color import rgb2gray

        scaled = rgb2gray(scaled[..., :3]).astype(np.float32)
    if scaled.ndim != 2:
        raise ValueError(f"{path}: expected a grayscale or RGB image, got shape {scaled.shape}")
    return scaled


GT_SUFFIXES = (".npy", ".png")
"""Ground-truth frames a GT folder holds, in order of preference (the exact float .npy first)."""


def gt_frames(folder) -> dict[int, Path]:
    """The ground-truth frames of a folder as ``spikekit simulate --gt-dir`` writes it:
    ``{spike frame N: path}`` for every ``<N>.npy`` or ``<N>.png`` (``00000040.npy``: spike frame
    40; the ``.npy``, exact, where both exist), sorted by N.

    Raises:
        FileNotFoundError: no such folder.  ValueError: it holds no such frame (names the folder
            and the names expected).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"ground-truth folder not found: {folder}")
    found: dict[int, Path] = {}
    for suffix in reversed(GT_SUFFIXES):  # the preferred suffix last, so it wins
        for path in folder.glob(f"*{suffix}"):
            if path.stem.isdigit():
                found[int(path.stem)] = path
    if not found:
        raise ValueError(f"{folder}: no ground-truth frames in it (expected files named by their spike frame, "
                         f"e.g. 00000040.npy or 00000040.png, as spikekit simulate --gt-dir writes them)")
    return dict(sorted(found.items()))
