"""spikekit.simulate.scene: images through per-frame affine maps, against plain indexing and the
plain affine_grid construction the demo used before it shared the renderer."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from spikekit.demo import HEIGHT, SPEED, SPIN, START, WIDTH, ZOOM, render_scene
from spikekit.simulate.scene import AffineView, rotation


def _image(h, w, seed=0):
    return torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(seed))


def test_identity_and_integer_shifts_are_pixel_copies():
    img = _image(9, 12)
    view = AffineView(9, 12, 9, 12)
    centre = torch.tensor([(12 - 1) / 2, (9 - 1) / 2])
    lin = torch.eye(2).expand(1, 1, 2, 2)
    shift = torch.stack([centre, centre + torch.tensor([2.0, 1.0])])[None]  # frames 0 and 1
    out = view.sample(img, lin, shift)
    assert out.shape == (1, 2, 9, 12)
    torch.testing.assert_close(out[0, 0], img[0, 0], atol=1e-5, rtol=0)
    # frame 1 shows source pixel (x + 2, y + 1): row i, column j of the view is img[i + 1, j + 2]
    torch.testing.assert_close(out[0, 1, :-1, :-2], img[0, 0, 1:, 2:], atol=1e-5, rtol=0)


def test_quarter_turn_is_rot90_and_zoom_two_skips_pixels():
    img = _image(8, 8, seed=1)
    view = AffineView(8, 8, 8, 8)
    c = torch.tensor([[[3.5, 3.5]]])
    # p = R(pi/2) u + c = (-uy, ux) + c: view (i, j) shows img[j, 7 - i]
    out = view.sample(img, rotation(torch.tensor([[math.pi / 2]]), torch.ones(1, 1)), c)
    torch.testing.assert_close(out[0, 0], torch.rot90(img[0, 0], 1), atol=1e-5, rtol=0)
    half = AffineView(4, 4, 8, 8).sample(img, 2 * torch.eye(2).expand(1, 1, 2, 2), c)
    # offsets u = -1.5 .. 1.5 land on source pixels 0.5, 2.5, 4.5, 6.5: means of 2 x 2 blocks
    blocks = img[0, 0].reshape(4, 2, 4, 2).mean(dim=(1, 3))
    torch.testing.assert_close(half[0, 0], blocks, atol=1e-5, rtol=0)


def _demo_reference(frames=10, steps=40) -> torch.Tensor:
    """The demo scene built plainly with affine_grid in normalised coordinates, frame by frame."""
    from skimage import data

    photo = torch.from_numpy(data.camera().astype(np.float32) / 255.0)[None, None]
    ph, pw = photo.shape[-2:]
    out = []
    for k in range(frames):
        a = SPIN * k / (frames - 1)
        dx, dy = (START[0] + SPEED[0] * steps * k, START[1] + SPEED[1] * steps * k)
        sx, sy = ZOOM * WIDTH / pw, ZOOM * HEIGHT / ph
        theta = torch.tensor([[[math.cos(a) * sx, -math.sin(a) * sy, 2 * dx / pw],
                               [math.sin(a) * sx, math.cos(a) * sy, 2 * dy / ph]]], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, 1, HEIGHT, WIDTH), align_corners=False)
        frame = F.grid_sample(photo, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        out.append(0.02 + 0.96 * frame[0, 0])
    return torch.stack(out)


def test_demo_scene_is_the_plain_affine_construction():
    got = render_scene()
    assert got.shape == (10, HEIGHT, WIDTH) and got.dtype == torch.float32
    # float32 grid coordinates near 500 photo pixels carry ~3e-5 px of rounding either way
    torch.testing.assert_close(got, _demo_reference(), atol=1e-4, rtol=0)
