"""Training configuration of the SSML network: one dataclass, dumped as YAML beside the checkpoints.

The defaults are the recipe of the shipped weights (``src/ssml/weights/MODEL_CARD.md``: batch 4,
40 x 40 crops of 41 spike frames, Adam at 3e-4 with a cosine schedule over the run, loss
``MSE(BSN, pseudo-label) + 0.01 * MSE(NBSN, BSN)``) and of the paper (Chen et al.,
"Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking Camera", IJCAI 2022,
Sec. 3.4 and 4.1). Every field is a plain YAML value so that a run is fully described by
``<out>/config.yaml`` and can be repeated with ``spikekit train --config``.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from spikekit.firing import DEFAULT_GAIN, DEFAULT_SCALE
from spikekit.io import atomic_output
from spikekit.simulate.source import IMAGE_SUFFIXES, VIDEO_SUFFIXES

from .binning import MAX_MANUAL_BIN
from .cases import case_paths, expand_pairs, map_paths
from .lite import WIDTH
from .losses import PSEUDO_LABELS
from .precision import AMP_MODES, resolve_amp
from .video import TRAIN_SPAN

# Free still photographs that ship inside scikit-image (no download needed).
DEFAULT_IMAGES = (
    "astronaut", "camera", "cat", "chelsea", "coffee", "rocket", "motorcycle_left",
    "motorcycle_right", "hubble_deep_field", "immunohistochemistry", "brick", "grass", "gravel",
    "moon", "coins", "clock", "retina", "cell", "page", "text",
)


FOLDER_SUFFIXES = {"images": IMAGE_SUFFIXES - {".npy"}, "videos": VIDEO_SUFFIXES}
"""The file name endings that an ``images`` or ``videos`` folder entry takes
(:func:`expand_folders`); arrays (``.npy``) are not photographs to ``ssml.data.load_image``."""


def expand_folders(entries, setting: str) -> list:
    """``entries`` of the ``images`` or ``videos`` setting with each existing folder replaced by
    its files of :data:`FOLDER_SUFFIXES` (not its subfolders), sorted by name, as strings; other
    entries (files, ``skimage.data`` names, missing paths) unchanged and in place.

    Raises:
        ValueError: a folder without such a file (one line naming the setting and the folder).
    """
    suffixes = FOLDER_SUFFIXES[setting]
    out = []
    for entry in entries:
        path = Path(entry)
        if not path.is_dir():
            out.append(entry)
            continue
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            kind = "image" if setting == "images" else "video"
            raise ValueError(f"config {setting}: the folder {path} holds no {kind} file "
                             f"({' '.join(sorted(suffixes))})")
        out += [str(p) for p in files]
    return out


def absolute_paths(values: dict) -> dict:
    """``values`` (TrainConfig fields, some or all) with every path absolute: ``out``, ``dat``,
    ``videos``, the DAT/GT (or DIR) parts of ``val`` and ``pairs``, an ``init`` file (not
    ``default``, the word for the shipped weights) and the ``images`` that are files or folders
    (not ``skimage.data`` names), so that a run resumes, and its config repeats, from any working
    directory; other keys unchanged. A single string for one of these list keys (``--set
    images=textures/photos``) is taken as a list of that one path. The one home of that rule
    (``spikekit train``, ``adapt`` and :meth:`TrainConfig.settled` use it)."""
    out = {k: [v] if k in ("dat", "videos", "images", "val", "pairs") and isinstance(v, str) else v
           for k, v in values.items()}
    if "out" in out:
        out["out"] = os.path.abspath(out["out"])
    value = out.get("init")
    if isinstance(value, str) and value and value != "default":  # else refused by validate
        out["init"] = os.path.abspath(value)
    for key in ("dat", "videos"):
        if key in out:
            out[key] = [os.path.abspath(p) for p in out[key]]
    if "images" in out:
        out["images"] = [os.path.abspath(p) if Path(p).exists() else p for p in out["images"]]
    for key in ("val", "pairs"):
        if key in out:
            out[key] = [map_paths(case, os.path.abspath) for case in out[key]]  # malformed: parse_val says
    return out


def _typed(key: str, value, kind: type):
    """``value`` as the type of the field's default (a float also from an int or a numeric string
    such as YAML's ``1e-12``, which YAML 1.1 reads as a string). Raises ValueError naming the key."""
    if kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif kind not in (float, int) and (isinstance(value, kind) or (kind is str and value is None)):
        return value
    raise ValueError(f"config {key}={value!r}: expected {kind.__name__}")


MODELS = ("ssml", "lite")
OBJECTIVES = ("self", "supervised", "hybrid")
RETIRED = {"teacher": "", "teacher_weight": 1.0, "teacher_ensemble": 1, "edge_weight": 0.0,
           "relative_loss": False}
"""Settings that no longer exist, with the value each held when it was off, all removed in issue 30
because they gained nothing on data they were not chosen on and no shipped weights used them:
online distillation (``teacher*``: a frozen network's output as a second supervised target;
``src/ssml/weights/MODEL_CARD.md``, "Removed"), and the supervised loss's edge term
(``edge_weight``) and per-sample relative error (``relative_loss``;
``src/ssml/weights/MODEL_CARD_lite.md``, "Removed"). The config of an older run holds these keys;
a resume and :meth:`TrainConfig.load` drop them (:func:`drop_retired`), ``--set`` refuses them as
unknown."""
RETIRED_TERMS = {"teacher": "teacher term (online distillation)", "edge_weight": "edge term of the supervised loss",
                 "relative_loss": "relative supervised loss"}
"""The retired keys whose non-off value changed what a run learned, and the term each named."""


def drop_retired(values: dict, where) -> dict:
    """``values`` (a stored config: a ``config.yaml`` or a checkpoint's) without the
    :data:`RETIRED` keys, so an older run still loads and resumes; for each :data:`RETIRED_TERMS`
    key it held switched on, one warning says the run goes on without that term."""
    for key, term in RETIRED_TERMS.items():
        if values.get(key, RETIRED[key]) != RETIRED[key]:
            warnings.warn(f"{where}: {key}={values[key]!r} ignored: the {term} was removed "
                          "(issue 30); the run goes on without it", stacklevel=3)
    return {k: v for k, v in values.items() if k not in RETIRED}


RUN_KEYS = ("out", "device", "threads", "log_every", "ckpt_every", "ckpt_minutes", "keep_every", "steps",
            "val", "val_every")
"""TrainConfig keys that say where and how a run is run, logged, checkpointed and validated, not
what it learns: a resume may change them (``spikekit train`` adds the other validation keys) and
``tools/ablation_table.py`` does not list them as a run's changes (it adds ``seed`` and ``init``)."""
HELD_OUT_FILES = ("200_part1_key_id151.dat", "200_part1_key_id151.png", "000_part1_key_id21.dat",
                  *(f"000_part1_key_id{k}.png" for k in (7, 14, 21, 28, 35)))
"""File names no training source may use (:meth:`TrainConfig.validate`): the streams and GT
images that the evaluation protocol validates on (``tools/protocol.py`` checks that its cases
are all here), under ``reds301/`` and ``reds41/`` of the shared data."""
SCRATCH_LR = 3e-4
"""Adam's learning rate at the start of a run from random weights (the shipped weights' recipe)."""
FINETUNE_LR = 1e-5
"""Adam's learning rate at the start of a run from trained weights (``init``). The scratch rate
wrecks them: from the shipped weights (validation PSNR 37.05 dB on 200_part1), 6 self-supervised
steps on 203_part2 with half of each batch simulated left 33.79 dB at 3e-4, 34.92 at 1e-4,
35.97 at 3e-5 and 36.66 at 1e-5 (``python tools/finetune_lr.py``; docs/training.md)."""
NOISE_LEVELS = ("off", "on", "strong")
"""Simulator noise levels of simulated samples (:func:`ssml.data.noise_model` builds each)."""


def _choices(names) -> str:
    """``'a' or 'b'`` for the error messages of :meth:`TrainConfig.validate`."""
    return " or ".join(f"'{n}'" for n in names)


@dataclass
class TrainConfig:
    """Everything that defines an SSML training run.

    Units: ``crop`` in pixels; speeds in output pixels per spike frame; ``lr`` per step;
    ``ckpt_minutes`` in wall-clock minutes. Paths are stored as strings.

    Data mix: each batch holds ``round(batch * pair_fraction)`` crops of ``pairs`` (with pairs),
    then of the rest ``round(rest * sim_fraction)`` simulated samples and the others from ``dat``
    files; with no ``dat`` file the rest is simulated, with ``sim_fraction`` 0 it comes from the
    files.
    """

    out: str = "runs/ssml"
    """Folder for checkpoints (``last.pt``), ``config.yaml``, ``log.csv`` and TensorBoard events."""
    steps: int = 10000
    """Optimiser steps of the whole run (the cosine schedule spans them)."""
    batch: int = 4
    """Samples per step (per process under DDP)."""
    crop: int = 40
    """Training crops are crop x crop pixels."""
    lr: float = 0.0
    """Adam learning rate at the start of the cosine schedule; 0 (the default): :data:`SCRATCH_LR`
    for a run from random weights, :data:`FINETUNE_LR` for one from ``init`` weights (settled
    when the run starts, :meth:`settled`)."""
    lr_min: float = 1e-6
    """Learning rate at the end of the cosine schedule."""
    adam_eps: float = 1e-8
    """Adam's epsilon (torch's default); why it stays 1e-8 is measured in
    ``src/ssml/weights/MODEL_CARD.md`` (Training)."""
    lr_warmup: int = 0
    """Steps of linear learning-rate warm-up before the cosine decay."""
    seed: int = 0
    """Seeds torch, NumPy, Python and the data generators (rank r uses seed + 1000003 * r)."""
    model: str = "ssml"
    """``ssml``: the BSN + NBSN pair (:class:`ssml.SSML`); ``lite``: the small U-Net
    :class:`ssml.lite.LiteNet` (needs ground truth: ``objective: supervised``)."""
    lite_width: int = WIDTH
    """Channels at full resolution of a ``lite`` model (``ssml.lite.LiteNet``; 2x and 3x that at half
    and quarter resolution; parameters and time grow as its square); the shipped ``ssml-lite``: 32."""
    objective: str = "self"
    """``self``: the paper's self-supervised loss only; ``supervised``: L1 to the exact ground
    truth of the simulated samples only; ``hybrid`` (``ssml``): both, the supervised term on
    the NBSN weighted by ``sup_weight``."""
    sup_weight: float = 1.0
    """Weight of the supervised term in the ``hybrid`` objective."""
    nla: bool = True
    """NBSN with non-local attention (the paper's best); False: the released plain concat."""
    pseudo_label: str = "tfp7"
    """BSN target: ``tfp7`` (mean of spike frames 17..23) or ``tfi12`` (TFI, 12-frame search)."""
    mutual_weight: float = 0.01
    """lambda of the mutual loss term MSE(NBSN, BSN)."""
    bsn_warmup: int = 0
    """First steps train the BSN alone (paper: 15k iterations)."""
    init: str = ""
    """Weights the model starts from at step 0 (a weights file, checkpoint or run folder, e.g.
    ``src/ssml/weights/ssml_default.pt``; ``default``: the shipped weights); empty: random
    initialisation. Optimiser, schedule and step start fresh; ignored when resuming."""
    amp: str = "auto"
    """Autocast dtype: ``auto`` (bf16 where the device computes it natively, else float32: the rule
    of ``-m ssml --param precision``, :func:`ssml.precision.resolve_amp`; settled when the run
    starts, :meth:`settled`), ``none`` (float32) or ``bf16`` (bfloat16 autocast; the loss stays
    float32)."""
    channels_last: bool = True
    """Keep weights and activations in channels-last (NHWC) memory format (faster with oneDNN)."""
    device: str = "cpu"
    """Training device (``cpu``, ``cuda``, ``cuda:1``; under DDP each rank takes its local GPU)."""
    threads: int = 0
    """torch intra-op threads; 0: on a CPU, all the cores usable by the process whatever their load
    (``spikekit.threads.apply_threads(follow_load=False)``: the weights depend on the thread
    count, so a seeded run repeats only with the same count), under torchrun its
    ``OMP_NUM_THREADS``. A run records the count it used here, so a resume uses it too."""
    dat: list = field(default_factory=list)
    """Training ``.dat`` spike streams (never the validation streams); may be empty."""
    dat_cache_mb: int = 2048
    """Streams whose unpacked frames fit this budget are held on the device; larger are read from disk."""
    dat_bin: int = 1
    """Spike frames per window frame of the ``dat`` windows: 41 x ``dat_bin`` frames ORed in groups
    (src/ssml/binning.py; ``spikekit adapt`` sets it as ``-m ssml --param bin=auto`` would read the
    recording)."""
    sim_fraction: float = 0.5
    """Share of the batch left after the ``pairs`` crops that is simulated on the device (all of it
    when ``dat`` is empty)."""
    pairs: list = field(default_factory=list)
    """Training pairs ``DAT:GT_PNG:INDEX``: real spike streams with the ground truth of one spike
    frame, cropped around it into the supervised loss (:class:`ssml.data.PairedWindows`); or
    ``DAT:DIR``, a folder of a stronger model's reconstructions of DAT as pseudo-labels
    (distillation, :func:`ssml.cases.expand_pairs`). Never
    a validation or test stream (:meth:`validate` refuses :data:`HELD_OUT_FILES` and those
    of ``val``)."""
    pair_fraction: float = 0.25
    """Share of each batch drawn from ``pairs`` (when there are any); the rest is split by ``sim_fraction``."""
    images: list = field(default_factory=lambda: list(DEFAULT_IMAGES))
    """Source photographs: ``skimage.data`` names, image file paths (read as grayscale float) or
    folders (every image file in one, sorted by name: :func:`expand_folders`)."""
    image_size: int = 384
    """Each source image is centre-cropped to a square and resized to this many pixels a side."""
    speed: list = field(default_factory=lambda: [0.01, 1.0])
    """Translation speed range (log-uniform), output pixels per spike frame."""
    rotation: float = 0.3
    """Largest rotation speed, as pixels per spike frame at the crop's edge."""
    zoom: list = field(default_factory=lambda: [0.6, 1.6])
    """Range of source pixels per output pixel (log-uniform)."""
    zoom_rate: float = 0.003
    """Largest relative zoom change per spike frame."""
    brightness: list = field(default_factory=lambda: [0.4, 1.0])
    """Range of the scene's peak intensity (uniform); intensities stay in [0, 1]."""
    object_prob: float = 0.5
    """Probability of each of the ``objects`` independently moving objects (occlusions)."""
    objects: int = 1
    """Textured ellipses that may slide over each simulated scene (each with ``object_prob``)."""
    brightness_log: bool = False
    """Draw the brightness log-uniformly in ``brightness`` (for ranges down to dark scenes)."""
    videos: list = field(default_factory=list)
    """Video files whose frames give simulated scenes real motion (:mod:`ssml.video`), or folders
    (every video file in one, sorted by name)."""
    video_fraction: float = 0.0
    """Share of the simulated samples drawn over ``videos`` (the rest over ``images``)."""
    video_span: list = field(default_factory=lambda: list(TRAIN_SPAN))
    """Segment [a, b) of each video used (shares of its frames); the default leaves the last
    quarter to the test grid of ``tools/quality_table.py``."""
    video_height: int = 256
    """Video frames are resized to this height (aspect kept) before cropping."""
    video_rate: list = field(default_factory=lambda: [0.005, 0.05])
    """Range of video frames per spike frame (log-uniform): the speed of the clip's own motion."""
    pan_prob: float = 0.5
    """Probability of a camera pan over a video clip (velocity drawn as ``speed``)."""
    shake: float = 0.0
    """Largest camera-shake amplitude over video clips, output pixels (a sinusoid per sample)."""
    edge_prob: float = 0.0
    """Share of the training windows mirrored at a stream end, as inference reads the first and last
    20 spike frames of a stream (:func:`ssml.data.reflect_at_end`, ``spikekit.recon.padding``)."""
    noise: list = field(default_factory=lambda: ["on", "off", "strong"])
    """Simulator noise levels the simulated samples cycle through (``off``, ``on``, ``strong``;
    see :func:`ssml.data.noise_model`)."""
    gain: float = DEFAULT_GAIN
    """Simulator gain g: firing probability per spike frame is about g * intensity."""
    sim_lead: int = 0
    """Extra spike frames simulated before each window (discarded) to settle the accumulators."""
    log_every: int = 10
    """Steps between logged training scalars (TensorBoard and CSV)."""
    ckpt_every: int = 500
    """Steps between checkpoints (``last.pt``); 0: only time-based and final checkpoints."""
    ckpt_minutes: float = 10.0
    """Wall-clock minutes between checkpoints; 0 disables."""
    keep_every: int = 0
    """Also keep ``step_NNNNNNN.pt`` every this many steps; 0 keeps only ``last.pt``."""
    val: list = field(default_factory=list)
    """Validation cases ``DAT:GT_PNG:INDEX`` (GT used for metrics only, never in the loss)."""
    val_every: int = 500
    """Steps between validations (and at the end); 0 disables."""
    val_crop: int = 0
    """Validate on a centred crop of this size (0: the full frame)."""
    val_scale: float = DEFAULT_SCALE
    """Output-to-intensity scale used for validation metrics (1 / gain, :mod:`spikekit.firing`)."""
    val_sim: int = 8
    """Fixed simulated validation samples (exact GT), 0 disables."""

    def validate(self) -> "TrainConfig":
        """Check value ranges; returns self.

        Raises:
            ValueError: naming the field and the expected range.
        """
        def need(ok, name, what):
            if not ok:
                raise ValueError(f"config {name}={getattr(self, name)!r}: expected {what}")

        need(self.steps > 0, "steps", "a positive number of steps")
        need(self.batch > 0, "batch", "a positive batch size")
        need(self.crop >= 8, "crop", "a crop size of at least 8 pixels")
        need(self.lr >= 0 and self.lr_min >= 0, "lr", "lr >= 0 (0: the default of the run) and lr_min >= 0")
        need(self.adam_eps > 0, "adam_eps", "a positive epsilon")
        need(self.pseudo_label in PSEUDO_LABELS, "pseudo_label", _choices(PSEUDO_LABELS))
        need(self.amp in AMP_MODES, "amp", _choices(AMP_MODES))
        need(0.0 <= self.sim_fraction <= 1.0, "sim_fraction", "a share in [0, 1]")
        need(self.sim_fraction > 0 or self.dat, "sim_fraction",
             "> 0 when no dat file is given (there would be no data)")
        need(len(self.speed) == 2 and 0 < self.speed[0] <= self.speed[1], "speed",
             "[min, max] with 0 < min <= max")
        need(len(self.zoom) == 2 and 0 < self.zoom[0] <= self.zoom[1], "zoom", "[min, max] > 0")
        need(len(self.brightness) == 2 and 0 < self.brightness[0] <= self.brightness[1] <= 1,
             "brightness", "[min, max] within (0, 1]")
        need(all(n in NOISE_LEVELS for n in self.noise) and self.noise, "noise",
             "a non-empty list of " + "/".join(f"'{n}'" for n in NOISE_LEVELS))
        need(self.images or not self.sim_count, "images", "at least one source image")
        need(self.model in MODELS, "model", f"one of {MODELS}")
        need(isinstance(self.lite_width, int) and 4 <= self.lite_width <= 256, "lite_width", "an integer in [4, 256]")
        need(self.objective in OBJECTIVES, "objective", f"one of {OBJECTIVES}")
        need(self.objective == "self" or self.sim_count + self.pair_count > 0, "objective",
             "'self' when no sample has ground truth (simulated samples and pairs carry it)")
        need(0.0 <= self.pair_fraction <= 1.0, "pair_fraction", "a share in [0, 1]")
        need(not self.pairs or self.pair_count > 0, "pair_fraction",
             f"a share that gives at least one pair crop in a batch of {self.batch}")
        need(not self.pairs or self.objective != "self", "pairs",
             "objective 'supervised' or 'hybrid' (a pair's ground truth enters only the supervised term)")
        held_out = self.held_out_files()
        for name in ("dat", "pairs"):
            for entry in getattr(self, name):
                hit = [p for p in case_paths(entry) if Path(p).name in held_out]
                need(not hit, name, f"no validation or test stream or its ground truth (got {hit[0] if hit else ''})")
        for name, files in (("images", self.image_files()), ("videos", self.video_files())):
            hit = [p for p in files if Path(p).name in held_out]
            need(not hit, name, f"no validation or test ground truth (got {hit[0] if hit else ''})")
        need(self.model == "ssml" or self.objective == "supervised", "objective",
             "'supervised' for the lite model (it has no blind-spot network)")
        need(self.sup_weight >= 0, "sup_weight", "a weight >= 0")
        need(0.0 <= self.video_fraction <= 1.0, "video_fraction", "a share in [0, 1]")
        need(not self.video_fraction or self.videos, "videos", "at least one video when video_fraction > 0")
        need(len(self.video_span) == 2 and 0 <= self.video_span[0] < self.video_span[1] <= 1,
             "video_span", "[a, b] with 0 <= a < b <= 1")
        need(len(self.video_rate) == 2 and 0 < self.video_rate[0] <= self.video_rate[1] <= 0.5,
             "video_rate", "[min, max] with 0 < min <= max <= 0.5 video frames per spike frame")
        need(0.0 <= self.pan_prob <= 1.0, "pan_prob", "a probability in [0, 1]")
        need(0.0 <= self.edge_prob <= 1.0, "edge_prob", "a probability in [0, 1]")
        need(not isinstance(self.dat_bin, bool) and isinstance(self.dat_bin, int)
             and 1 <= self.dat_bin <= MAX_MANUAL_BIN, "dat_bin", f"an integer number of spike frames in [1, {MAX_MANUAL_BIN}]")
        need(self.shake >= 0 and self.video_height >= 16, "shake", "shake >= 0 and video_height >= 16")
        for name in ("objects", "log_every", "ckpt_every", "keep_every", "val_every", "val_crop", "val_sim",
                     "bsn_warmup", "lr_warmup", "sim_lead", "threads"):
            need(getattr(self, name) >= 0, name, "a number >= 0")
        self._checked = self.to_dict()
        return self

    def settled(self, device) -> "TrainConfig":
        """A copy as a run starting on ``device`` uses it, and as ``config.yaml`` and the checkpoints
        record it: every path absolute (:func:`absolute_paths`), ``amp: auto`` resolved for the
        device (:func:`ssml.precision.resolve_amp`) and ``lr: 0`` resolved (:data:`SCRATCH_LR`, or
        :data:`FINETUNE_LR` with ``init``), so a resumed run repeats the same arithmetic anywhere.

        Raises:
            ValueError: a bad value (as :meth:`validate`).
        """
        values = absolute_paths(self.to_dict())
        values["amp"] = resolve_amp(self.amp, device)
        values["lr"] = self.lr or (FINETUNE_LR if self.init else SCRATCH_LR)
        return TrainConfig(**values).validate()

    def data_mix(self) -> str:
        """What each batch is made of, in words, e.g. ``"batch of 4: 2 windows of 1 .dat stream
        (a.dat), 2 simulated scenes (20 photographs)"`` (printed when a run starts)."""
        parts = []
        if self.pair_count:
            count = len(expand_pairs(self.pairs))  # a DAT:DIR entry is one pair per image
            entries = f" ({len(self.pairs)} --pair entries)" if count != len(self.pairs) else ""
            parts.append(f"{self.pair_count} crops of {count} training pair(s){entries}")
        dat_count = self.batch - self.pair_count - self.sim_count
        if dat_count:
            names = ", ".join(Path(p).name for p in self.dat[:3]) + (", ..." if len(self.dat) > 3 else "")
            parts.append(f"{dat_count} windows of {len(self.dat)} .dat stream(s) ({names})")
        if self.sim_count:
            source = f"{len(self.image_files())} photographs"
            if self.video_fraction and self.videos:
                source += f", {self.video_fraction:.0%} of them over {len(self.video_files())} video(s)"
            parts.append(f"{self.sim_count} simulated scenes ({source})")
        return f"batch of {self.batch}: " + ", ".join(parts)

    def checked(self) -> "TrainConfig":
        """Self, :meth:`validate`d unless it already was with these very values (the command line
        validates where the settings enter; the trainer then does not check them again).

        Raises:
            ValueError: as :meth:`validate`.
        """
        return self if getattr(self, "_checked", None) == self.to_dict() else self.validate()

    def image_files(self) -> list:
        """``images`` with each folder replaced by its image files (:func:`expand_folders`).

        Raises:
            ValueError: a folder without an image file (names ``images`` and the folder).
        """
        return expand_folders(self.images, "images")

    def video_files(self) -> list:
        """``videos`` with each folder replaced by its video files (:func:`expand_folders`).

        Raises:
            ValueError: a folder without a video file (names ``videos`` and the folder).
        """
        return expand_folders(self.videos, "videos")

    def held_out_files(self) -> set:
        """File names that no training source may use: :data:`HELD_OUT_FILES` and the streams
        and GT images of ``val``."""
        return set(HELD_OUT_FILES) | {Path(p).name for case in self.val for p in case_paths(case)}

    @property
    def pair_count(self) -> int:
        """Crops of ``pairs`` per batch: ``round(batch * pair_fraction)``, none without pairs."""
        return int(round(self.batch * self.pair_fraction)) if self.pairs else 0

    @property
    def sim_count(self) -> int:
        """Simulated samples per batch: ``round(rest * sim_fraction)`` of the ``rest = batch -
        pair_count``, all of the rest without dat files."""
        rest = self.batch - self.pair_count
        return rest if not self.dat else int(round(rest * self.sim_fraction))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Build from a dict (e.g. a YAML file), rejecting unknown keys.

        Raises:
            ValueError: an unknown key (names it and lists the known ones).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training config key(s) {unknown}; known: {sorted(known)}")
        defaults = cls()
        values = dict(values)
        if isinstance(values.get("noise"), list):  # YAML 1.1 reads unquoted on/off as booleans
            values["noise"] = [("on" if n else "off") if isinstance(n, bool) else n for n in values["noise"]]
        return cls(**{k: _typed(k, v, type(getattr(defaults, k))) for k, v in values.items()})

    def dump(self, path) -> Path:
        """Write the config as YAML to ``path`` atomically; returns the path."""
        path = Path(path)
        with atomic_output(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """Read a YAML config written by :meth:`dump` (or by hand; missing keys keep defaults,
        :data:`RETIRED` keys of an older run's config are dropped).

        Raises:
            FileNotFoundError: missing file.  ValueError: not a YAML mapping, or unknown keys.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training config not found: {path}")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a YAML mapping of config keys, got {type(values).__name__}")
        try:
            return cls.from_dict(drop_retired(values, path))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
