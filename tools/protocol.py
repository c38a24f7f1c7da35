"""The evaluation protocol: validation cases (for choosing runs) and a held-out test grid.

Research tooling, not part of the installed package: ``tools/quality_table.py``,
``tools/bin_sweep.py``, ``tools/ends_sweep.py`` and ``benchmarks/bench_ssml_infer.py`` import it
(with ``tools/`` on ``sys.path``). Training is handed the protocol's files as data: every stream
and GT image of :data:`VALIDATION` is in :data:`ssml.config.HELD_OUT_FILES`, which
:meth:`ssml.config.TrainConfig.validate` refuses as a training source (checked on import here).

**Validation** (tuning data: runs and settings are chosen by it): ``reds301/spike/200_part1`` at
spike frame 150 and ``reds41/spike/000_part1`` at its five GT keys (``key_idK`` is centred on spike
frame K - 1), under ``../shared/data``. Never trained on.

**Test grid** (nothing is trained or selected on it): scenes simulated with exact ground truth
from material that training never sees: the last 20 % of the frames of each shared video
(:data:`ssml.video.TEST_SPAN`; training uses at most the first 75 %,
:data:`ssml.video.TRAIN_SPAN`) with, moving over them, an object textured with a photograph that
is not among the training photographs (:data:`TEST_IMAGES`). Cells: every combination of

* motion speed (:data:`SPEEDS`, output pixels per spike frame, for the camera pan and the object):
  ``slow`` 0.02, ``medium`` 0.08, ``fast`` 0.2 (the fastest motion measured in the REDS-derived
  streams: optical flow of TFP images of ``reds301``, 99th percentile about 0.18 px per frame);
* light level (:data:`LIGHTS`, mean firing rate per spike frame): ``bright`` 0.3, ``dim`` 0.08,
  ``dark`` 0.02 (the real recording in ``../shared/data/real`` has about 0.03);
* camera noise (:data:`NOISES`): ``off``, ``on``, ``strong`` (:func:`ssml.data.noise_model`).

Each cell holds :data:`SCENES_PER_CELL` scenes of :data:`TEST_SIZE` x :data:`TEST_SIZE` pixels,
:data:`TEST_FRAMES` spike frames, the ground truth at the middle frame :data:`TEST_INDEX`, from a
fixed seed: the grid is the same on every machine and every run.

**Dark validation** (:func:`dark_validation`, tuning data): the validation cases' GT images panned
and simulated at the real recording's mean firing rate (0.03), to choose dark-scene settings by
without looking at the test grid's dark cells.

**Stream ends** (:func:`at_stream_start`): the same scenes with their streams cut so that the GT
frame is one of the first :data:`END_FRAMES` spike frames, where a 41-frame window runs past the
stream's start and is read mirrored (``src/spikekit/recon/padding.py``), as at the first and last
20 frames of every recording.
"""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch

from spikekit.metrics import load_gt
from ssml.config import HELD_OUT_FILES, NOISE_LEVELS, TrainConfig
from ssml.data import SceneSimulator
from ssml.networks import WINDOW
from ssml.video import TEST_SPAN, VideoClips

VALIDATION = [("200_part1 @150", "reds301/spike/200_part1_key_id151.dat", "reds301/gt/200_part1_key_id151.png", 150)] + [
    (f"000_part1 @{k - 1}", "reds41/spike/000_part1_key_id21.dat", f"reds41/gt/000_part1_key_id{k}.png", k - 1)
    for k in (7, 14, 21, 28, 35)]
"""Validation cases: (label, spike file, GT image, spike frame of the GT), paths under the data folder."""
_unheld = sorted({Path(p).name for _, dat, gt, _ in VALIDATION for p in (dat, gt)} - set(HELD_OUT_FILES))
if _unheld:
    raise RuntimeError(f"tools/protocol.py: validation files {_unheld} are not in ssml.config.HELD_OUT_FILES, "
                       "so training could use them")

TEST_VIDEOS = ("video/bikes.mp4", "video/carphone_pristine.mp4", "video/bigbuckbunny.mp4")
"""Videos (under the data folder) whose last frames (:data:`ssml.video.TEST_SPAN`) make the test scenes."""
TEST_IMAGES = ("colorwheel", "logo", "shepp_logan_phantom", "checkerboard", "microaneurysms", "horse")
"""``skimage.data`` photographs for the test objects: none is in the training defaults."""
SPEEDS = {"slow": 0.02, "medium": 0.08, "fast": 0.2}
LIGHTS = {"bright": 0.3, "dim": 0.08, "dark": 0.02}
NOISES = NOISE_LEVELS
"""The grid's noise axis: every level the training simulator knows."""
SCENES_PER_CELL = 2
TEST_SIZE = 160
TEST_FRAMES = 121
TEST_INDEX = 60
TEST_SEED = 20261201
DARK_RATE = 0.03
"""Mean firing rate of the dark validation scenes (:func:`dark_validation`): the real recording's."""
DARK_SCENES = 8
DARK_SEED = 20261205
END_FRAMES = WINDOW // 2
"""Spike frames at each end of a stream where a centred window needs mirrored frames."""


@dataclasses.dataclass
class Case:
    """One evaluation case: a spike stream (uint8 (T, H, W) of {0, 1}, or a ``.dat`` path), the
    ground truth float32 (H, W) in [0, 1] at spike frame ``index``, and its labels."""
    name: str
    spikes: object
    gt: object
    index: int
    cell: dict = dataclasses.field(default_factory=dict)


FOREIGN = [(f"{part} @150", f"reds301/spike/{part}_key_id151.dat", f"reds301/gt/{part}_key_id151.png", 150)
           for part in ("203_part2", "203_part3")]
"""The foreign cases (tools/foreign_estimate.py): the REDS-derived streams that are not validation
cases, the only ones a run may take as GT pairs (``--pair``). A network is scored on one of them
only by a run that left it out of its pairs."""


def validation_cases(data: Path, cases=VALIDATION, label: str = "validation") -> list[Case]:
    """The validation cases (or other ``cases`` of the same form, e.g. :data:`FOREIGN`, with
    ``cell["set"] = label``) under ``data`` (``../shared/data``), spikes given as ``.dat`` paths.

    Raises:
        FileNotFoundError: a file is missing (names it).
    """
    out = []
    for name, dat, gt, index in cases:
        for p in (data / dat, data / gt):
            if not p.is_file():
                raise FileNotFoundError(f"validation file not found: {p}")
        out.append(Case(name, data / dat, load_gt(data / gt), index, {"set": label}))
    return out


def test_grid(data: Path, device="cpu", cells: int | None = None) -> list[Case]:
    """The test grid (see the module docstring): ``3 x 3 x 3`` cells of :data:`SCENES_PER_CELL`
    scenes each, spikes uint8 (121, 160, 160), GT float32 (160, 160) at spike frame 60.
    ``cells=k`` makes only the first k cells (the same scenes as in the whole grid).

    Each scene's intensity is scaled so that its mean firing rate (gain 0.6 x mean intensity)
    is the cell's light level (values above 1 clip to 1).

    Raises:
        FileNotFoundError: a video is missing.
    """
    videos = [data / v for v in TEST_VIDEOS]
    base = TrainConfig(images=list(TEST_IMAGES), videos=[str(v) for v in videos], video_fraction=1.0,
                       video_span=list(TEST_SPAN), video_rate=[0.002, 0.002], pan_prob=1.0, shake=0.0,
                       zoom=[1.0, 1.0], brightness=[1.0, 1.0], objects=1, object_prob=1.0,
                       sim_lead=TEST_FRAMES - WINDOW)
    clips = VideoClips(videos, base.video_height, TEST_SPAN, device)
    cases, images = [], None
    for k, ((sname, speed), (lname, rate), noise) in enumerate(
            itertools.product(SPEEDS.items(), LIGHTS.items(), NOISES)):
        if cells is not None and k >= cells:
            break
        cfg = dataclasses.replace(base, speed=[speed, speed], noise=[noise])
        sim = SceneSimulator(cfg, SCENES_PER_CELL, crop=TEST_SIZE, device=device, images=images, videos=clips)
        images = sim.images
        cell = {"set": "test", "speed": sname, "light": lname, "noise": noise}
        cases += simulated_cases(sim, TEST_SEED + k, rate, f"{sname}/{lname}/{noise}", cell)
    return cases


def simulated_cases(sim, seed: int, rate: float, name: str, cell: dict) -> list[Case]:
    """The scenes of one :class:`ssml.data.SceneSimulator` call (a fixed ``seed``), each scaled so
    that its mean firing rate (gain x mean intensity) is ``rate`` (values above 1 clip to 1), as
    cases ``<name>/<j>`` with spikes uint8 (T, H, W) on the host and the GT of spike frame
    :data:`TEST_INDEX`."""
    gen = torch.Generator(device=sim.device)
    gen.manual_seed(seed)
    intensity = sim.render(gen)
    level = intensity.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    intensity = (intensity * (rate / sim.cfg.gain) / level).clamp_(0, 1)
    spikes = sim.spikes(intensity, seed).to(torch.uint8).cpu()
    return [Case(f"{name}/{j}", spikes[j], intensity[j, TEST_INDEX].cpu().numpy(), TEST_INDEX, dict(cell))
            for j in range(spikes.shape[0])]


def dark_validation(data: Path, device="cpu", speed: float = SPEEDS["medium"],
                    rate: float = DARK_RATE) -> list[Case]:
    """Dark validation scenes (tuning data, like :data:`VALIDATION`): the validation cases' GT
    images, each panned at ``speed`` (output pixels per spike frame; default the grid's
    ``medium``, :data:`SPEEDS`) in :data:`DARK_SCENES` directions, at the mean firing rate
    ``rate`` (default :data:`DARK_RATE`) with the simulator's default noise; :data:`TEST_SIZE`
    pixels a side, :data:`TEST_FRAMES` spike frames, GT at :data:`TEST_INDEX`. Never trained
    on; what dark-scene settings are chosen by (``tools/bin_sweep.py`` also varies ``speed``
    and ``rate``), so that the test grid's dark cells stay held out.

    Raises:
        FileNotFoundError: a GT image is missing (names it).
    """
    paths = sorted({data / gt for _, _, gt, _ in VALIDATION})
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"validation file not found: {p}")
    cfg = TrainConfig(images=[str(p) for p in paths], image_size=TEST_SIZE * 2, speed=[speed, speed],
                      rotation=0.0, zoom=[1.0, 1.0], zoom_rate=0.0, brightness=[1.0, 1.0], objects=0,
                      noise=["on"], sim_lead=TEST_FRAMES - WINDOW)
    sim = SceneSimulator(cfg, DARK_SCENES, crop=TEST_SIZE, device=device)
    return simulated_cases(sim, DARK_SEED, rate, "dark", {"set": "dark-validation", "light": "dark"})


def at_stream_start(cases: list[Case]) -> list[Case]:
    """The test cases (:func:`test_grid`) with case i's stream cut to start ``i % END_FRAMES``
    spike frames before its GT frame (so every distance 0 .. 19 from the stream's start occurs,
    spread over the cells); the GT is unchanged and ``cell["set"]`` is ``"test-start"``.
    Spikes stay uint8 (T', 160, 160) views of the originals."""
    out = []
    for i, case in enumerate(cases):
        ahead = i % END_FRAMES
        start = case.index - ahead
        out.append(dataclasses.replace(case, spikes=case.spikes[start:], index=ahead,
                                       cell={**case.cell, "set": "test-start"}))
    return out
