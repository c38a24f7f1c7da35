"""SSML: self-supervised mutual learning for spiking-camera reconstruction.

Our implementation of Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene
Reconstruction of Spiking Camera", IJCAI 2022: a blind-spot network (:class:`BSN`) trained against
a pseudo-label from the spike stream itself, and a non-blind network (:class:`NBSN`) that learns
from the BSN (mutual loss) and is the one used for inference. Input windows are float
(B, 41, H, W) spike frames; outputs (B, 1, H, W) for the middle frame.

``from ssml import SSML, load_model``. Training from Python: ``ssml.train.train(TrainConfig(...))``
(:class:`TrainConfig` holds every setting; docs/training.md has a runnable example); the function
stays in :mod:`ssml.train` because a package attribute ``train`` would shadow that module.
"""
from .config import TrainConfig
from .networks import BSN, NBSN, SSML, WINDOW, PairOutput, count_parameters
from .weights_io import DEFAULT_WEIGHTS, load_model

__all__ = ["BSN", "NBSN", "SSML", "WINDOW", "PairOutput", "TrainConfig", "count_parameters", "load_model",
           "DEFAULT_WEIGHTS"]
