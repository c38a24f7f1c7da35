"""``--param ensemble``: geometric self-ensemble of ``-m ssml`` / ``-m ssml-lite`` (src/ssml/ensemble.py)
against a plain NumPy reference: the network on each flipped/rotated window, each output turned
back with NumPy, then the mean."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spikekit.recon import get_method, reconstruct
from ssml.ensemble import ENSEMBLES, TRANSFORMS, check_ensemble
from ssml_model_util import one_thread, random_lite  # noqa: F401  (one_thread: autouse fixture)

H, W, T = 12, 16, 50


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_lite(tmp_path_factory.mktemp("w"), seed=3)


def numpy_turns():
    """D4 on an (..., H, W) array, written out: identity, mirror, half turn, mirror of it, then
    the quarter turns (counter-clockwise, as np.rot90) and their mirrors; with the inverse of each."""
    out = []
    for k in (0, 2, 1, 3):
        for flip in (False, True):
            fwd = (lambda a, k=k, f=flip: np.rot90(a, k, axes=(-2, -1))[..., ::-1] if f else np.rot90(a, k, axes=(-2, -1)))
            inv = (lambda a, k=k, f=flip: np.rot90(a[..., ::-1] if f else a, -k, axes=(-2, -1)))
            out.append((fwd, inv))
    return out


def test_transforms_are_the_dihedral_group():
    image = np.arange(5 * 5).reshape(5, 5)
    seen = {np.ascontiguousarray(fwd(image)).tobytes() for fwd, _ in numpy_turns()}
    assert len(seen) == 8 and len(TRANSFORMS) == 8 and len(set(TRANSFORMS)) == 8
    for bad in (0, 3, 16, True, "8"):
        with pytest.raises(ValueError, match="ensemble must be one of 1, 2, 4, 8"):
            check_ensemble(bad)


@pytest.mark.parametrize("n", ENSEMBLES)
def test_self_ensemble_matches_the_reference(weights, n):
    path, model = weights
    stream = (torch.rand(T, H, W, generator=torch.Generator().manual_seed(5)) < 0.3).to(torch.uint8)
    image = reconstruct(get_method("ssml-lite"), stream, at=25, weights=path, ensemble=n, anchor=0,
                        precision="fp32", scale=None)
    window = stream[5:46].numpy().astype(np.float32)
    outs = []
    for fwd, inv in numpy_turns()[:n]:
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(fwd(window)))[None])[0, 0].numpy()
        outs.append(inv(out))
    np.testing.assert_allclose(image.numpy(), np.mean(outs, axis=0), rtol=1e-4, atol=1e-5)
    if n > 1:  # the turns do change the output of an untrained network
        single = reconstruct(get_method("ssml-lite"), stream, at=25, weights=path, anchor=0, precision="fp32",
                             scale=None)
        assert (image - single).abs().max() > 1e-4
