"""spikekit.metrics: PSNR/SSIM conventions (data range 1) and ground-truth loading."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from spikekit.metrics import load_gt, psnr, ssim


def test_psnr_of_a_known_error():
    gt = np.full((16, 16), 0.5)
    assert psnr(gt + 0.1, gt) == pytest.approx(20.0)  # MSE 0.01, range 1
    assert psnr(torch.from_numpy(gt + 0.01).float()[None, None], gt) == pytest.approx(40.0, abs=1e-4)
    assert psnr(gt, gt) == float("inf")


def test_ssim():
    rng = np.random.default_rng(0)
    gt = rng.random((32, 40))
    assert ssim(gt, gt) == pytest.approx(1.0)
    assert ssim(np.clip(gt + rng.normal(0, 0.2, gt.shape), 0, 1), gt) < 0.9


def test_shape_errors():
    with pytest.raises(ValueError, match="same"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="2-D"):
        ssim(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)))


def test_load_gt(tmp_path):
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    iio.imwrite(tmp_path / "g.png", gray)
    out = load_gt(tmp_path / "g.png")
    assert out.dtype == np.float32 and out.shape == (16, 16)
    np.testing.assert_allclose(out, gray / 255.0, rtol=1e-6)
    iio.imwrite(tmp_path / "g16.png", gray.astype(np.uint16) * 257)
    np.testing.assert_allclose(load_gt(tmp_path / "g16.png"), gray / 255.0, rtol=1e-6)
    iio.imwrite(tmp_path / "rgb.png", np.stack([gray] * 3, axis=-1))
    np.testing.assert_allclose(load_gt(tmp_path / "rgb.png"), gray / 255.0, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        load_gt(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read"):
        load_gt(tmp_path / "bad.png")


def test_load_gt_reads_npy_arrays(tmp_path):
    """The demo's exact ground truth (float32 .npy) is read as it is; uint8 arrays as 8-bit images."""
    exact = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    np.save(tmp_path / "exact.npy", exact)
    out = load_gt(tmp_path / "exact.npy")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, exact)
    np.save(tmp_path / "u8.npy", (exact * 255).round().astype(np.uint8))
    np.testing.assert_allclose(load_gt(tmp_path / "u8.npy"), exact, atol=0.5 / 255)
    np.save(tmp_path / "cube.npy", np.zeros((2, 6, 8), np.float32))
    with pytest.raises(ValueError, match="expected a grayscale or RGB image"):
        load_gt(tmp_path / "cube.npy")
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match=r"cannot read as a ground-truth image \(PNG, TIFF, JPEG, \.npy"):
        load_gt(tmp_path / "bad.npy")
