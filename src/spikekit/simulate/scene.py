"""Moving scenes for the simulator: still images seen through a per-frame affine map.

Output pixel (i, j) of a height x width view sits at offset ``u = (j - (width - 1) / 2,
i - (height - 1) / 2)`` pixels from the view's centre. In frame t it shows the source image at
pixel position ``p = lin[t] @ u + shift[t]`` (x right, y down; pixel centres at integers), read
bilinearly with reflection at the image's borders (``torch.nn.functional.grid_sample``,
``align_corners=False``, whose normalised coordinate is ``x_n = (2 x + 1) / S - 1``). A
translation moves ``shift``, a rotation or zoom changes ``lin``, so every frame is an exact
function of its map: the ground truth of a simulated stream.

:class:`AffineView` renders all frames of a batch in one ``grid_sample`` call (the frames are
stacked as rows of one tall grid). Used by the demo (:mod:`spikekit.demo`) and the training
scenes of :class:`ssml.data.SceneSimulator`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class AffineView:
    """A height x width view of source images of ``source_height`` x ``source_width`` pixels.

    Args:
        height, width: view size, pixels.
        source_height, source_width: size of the images to be sampled, pixels.
        device: where the grids are built.

    Attributes:
        ux, uy: float32 (height, width) offsets of each view pixel from the view's centre.
    """

    def __init__(self, height: int, width: int, source_height: int, source_width: int, device="cpu"):
        self.height, self.width, self.device = height, width, torch.device(device)
        gy = torch.arange(height, device=self.device, dtype=torch.float32) - (height - 1) / 2
        gx = torch.arange(width, device=self.device, dtype=torch.float32) - (width - 1) / 2
        self.uy, self.ux = torch.meshgrid(gy, gx, indexing="ij")
        self._uh = torch.stack([self.ux, self.uy, torch.ones_like(self.ux)], -1).view(height * width, 3)
        # pixel -> normalised coordinate: x_n = x * 2 / S + (1 / S - 1), per axis
        self._scale = torch.tensor([2 / source_width, 2 / source_height], device=self.device)
        self._offset = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1 / source_width - 1, 1 / source_height - 1]],
                                    device=self.device)

    def grid(self, lin: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """The ``grid_sample`` grid of per-frame maps: float32 (n, T * height, width, 2).

        Args:
            lin: (n, T, 2, 2) or (n, 1, 2, 2) (the same for every frame) linear parts, source
                pixels per view pixel.
            shift: (n, T, 2) source pixel (x, y) seen at the view's centre in each frame.
        """
        n, frames = shift.shape[0], shift.shape[1]
        lin = lin.expand(n, frames, 2, 2)
        mat = torch.cat([lin.transpose(-1, -2), shift.unsqueeze(-2)], -2)  # (n, T, 3, 2): [u, 1] @ mat
        mat = mat * self._scale + self._offset
        grid = torch.addcmul(mat[:, :, None, 2], self._uh[:, 0, None], mat[:, :, None, 0])
        grid.addcmul_(self._uh[:, 1, None], mat[:, :, None, 1])
        return grid.view(n, frames * self.height, self.width, 2)

    def sample(self, images: torch.Tensor, lin: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Image k under the maps of batch element k: float (n, T, height, width).

        Args:
            images: float (n, 1, source_height, source_width) on the view's device.
            lin, shift: the maps (see :meth:`grid`).
        """
        n, frames = shift.shape[0], shift.shape[1]
        out = F.grid_sample(images, self.grid(lin, shift), mode="bilinear", padding_mode="reflection",
                            align_corners=False)
        return out.view(n, frames, self.height, self.width)


def rotation(theta: torch.Tensor, zoom: torch.Tensor) -> torch.Tensor:
    """``zoom * [[cos theta, -sin theta], [sin theta, cos theta]]`` as (..., 2, 2) matrices;
    ``theta`` in radians and ``zoom`` of the same shape (...)."""
    cos, sin = theta.cos() * zoom, theta.sin() * zoom
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
