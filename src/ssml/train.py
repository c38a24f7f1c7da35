"""The SSML training loop: data, optimiser, schedule, checkpoints, exact resume, logging, DDP.

One step (Chen et al., IJCAI 2022, Sec. 3.4): a batch of spike windows S (B, 41, c, c), the
pseudo-label Y (``tfp7``: mean of spike frames 17..23, or ``tfi12``) computed batched on the device,
``L = MSE(BSN(S), Y) + lambda * MSE(NBSN(S), BSN(S))`` (:func:`ssml.losses.ssml_loss`), Adam, a
cosine learning-rate schedule over ``config.steps``. Ground truth (simulated scenes, ``--val``
cases) is used only for the logged PSNR/SSIM, never in the loss.

Run it as ``spikekit train ...``, ``python -m ssml ...`` (:mod:`ssml.__main__`; ``python -m
ssml.train`` is the same) or, on several GPUs/nodes, ``torchrun --nproc_per_node=N -m ssml ...``
(DDP; each rank draws its own batches from a generator seeded with ``seed + 1000003 * rank``;
rank 0 writes checkpoints and logs).

Checkpoints (``<out>/last.pt``, :mod:`ssml.checkpoint`) hold the model, optimiser and scheduler
states, every rank's RNG states (torch, NumPy, Python, CUDA, and the data generator), the step,
the config and the spikekit version; they are written every ``ckpt_every`` steps, every
``ckpt_minutes`` minutes, at the end, and on Ctrl-C (SIGINT) or SIGTERM. ``resume`` continues the
run bit-exactly: 5 + 5 steps give the same parameters as 10 steps.
"""
from __future__ import annotations

import csv
import math
import os
import random
import signal
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from spikekit import __version__, ops
from spikekit.progress import progress
from spikekit.threads import apply_threads, describe as describe_threads

from .checkpoint import read_checkpoint, resolve_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import TrainConfig
from .data import TrainData
from .lite import LiteNet
from .losses import pseudo_label, ssml_loss, supervised_loss
from .networks import SSML
from .precision import describe_precision
from .validation import Validator
from .weights_io import load_model


# --- small helpers -----------------------------------------------------------------------------

def cosine_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up over ``lr_warmup`` steps, then
    cosine decay from 1 to ``lr_min / lr`` at ``steps`` (SGDR, Loshchilov & Hutter 2017, Eq. 5)."""
    if step < cfg.lr_warmup:
        return (step + 1) / cfg.lr_warmup
    span = max(1, cfg.steps - cfg.lr_warmup)
    progress = min(1.0, (step - cfg.lr_warmup) / span)
    floor = cfg.lr_min / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) over all parameters with epsilon ``eps`` (see
    ``TrainConfig.adam_eps``), with the fused single-kernel update where this torch build
    supports it on the parameters' device (same arithmetic, fewer passes)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=lr, eps=eps)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class ScalarLog:
    """TensorBoard scalars plus a CSV copy (``log.csv``: step, wall seconds, tag, value).

    On resume, CSV rows and TensorBoard events after the resumed step are dropped (they belong to
    the part of the run that is being repeated).
    """

    def __init__(self, out: Path, start_step: int, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.csv_path = out / "log.csv"
        rows = []
        if start_step and self.csv_path.is_file():
            with open(self.csv_path, newline="") as f:
                rows = [r for r in csv.reader(f)][1:]
            rows = [r for r in rows if int(r[0]) <= start_step]
        self._csv_file = open(self.csv_path, "w", newline="")
        self._csv = csv.writer(self._csv_file)
        self._csv.writerow(["step", "wall_s", "tag", "value"])
        self._csv.writerows(rows)
        try:
            self.tb = SummaryWriter(str(out / "tb"), purge_step=start_step + 1 if start_step else None)
        except OSError as exc:  # its writer reports a full disk without the file name
            raise OSError(exc.errno, f"cannot write the TensorBoard log in {out / 'tb'}: {exc.strerror}") from None
        self.t0 = time.time()

    def scalars(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        wall = round(time.time() - self.t0, 3)
        for tag, value in values.items():
            self.tb.add_scalar(tag, value, step)
            self._csv.writerow([step, wall, tag, f"{value:.8g}"])
        self._csv_file.flush()

    def close(self) -> None:
        """Close both logs.

        Raises:
            OSError: the CSV could not be written (full disk), naming ``log.csv``.
        """
        if self.enabled:
            self.tb.close()
            try:
                self._csv_file.close()
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write {self.csv_path}: {exc.strerror}") from None


# --- the trainer -------------------------------------------------------------------------------

class Trainer:
    """State of one training process (see the module docstring).

    Args:
        config: the run's :class:`~ssml.config.TrainConfig` (validated here unless it was,
            :meth:`~ssml.config.TrainConfig.checked`); the trainer runs its
            :meth:`~ssml.config.TrainConfig.settled` copy, ``self.cfg`` (absolute paths, amp and
            lr settled for the device).
        resume: a checkpoint file (or a run folder holding ``last.pt``) to continue from; the
            model, optimiser, scheduler, RNG and data states and the step are restored.

    Raises:
        ValueError: a bad config value or validation case.  FileNotFoundError: a missing file.
    """

    def __init__(self, config: TrainConfig, resume=None):
        self.cfg = config.checked()
        self._setup_process()
        self.cfg = config = config.settled(self.device)  # absolute paths, amp and lr for this device
        start = self._init_model(config.init) if resume is None and config.init else None
        seed_everything(config.seed + 1000003 * self.rank)
        self.data = TrainData(config, self.device, self.rank)
        self._build_model(start)
        self._build_optimizer()
        self.step, self.elapsed = 0, 0.0
        if resume is not None:
            self._load(resume)
        self.net = self._trained_module()
        self.validator = Validator(config, self.device, self.fmt,
                                   images=self.data.sim.images if self.data.sim is not None else None)
        self._open_run_folder()  # last: a bad data source or validation case leaves no empty folder
        self._stop = False

    # set-up --------------------------------------------------------------------------------
    def _setup_process(self) -> None:
        """Rank, world size and device of this process (initialises DDP under torchrun); threads."""
        self.rank, self.world, local = _distributed()
        self.device = _device(self.cfg.device, local, self.world)
        if self.device.type == "cpu" or self.cfg.threads:
            # 0: all usable cores, not the free ones: the weights depend on the thread count, so a
            # count that followed the load would not repeat; the count used is what the run records
            self.cfg.threads = apply_threads(self.cfg.threads or None, follow_load=False)
        self.is_main = self.rank == 0

    def _open_run_folder(self) -> None:
        """``config.out``, created by rank 0."""
        self.out = Path(self.cfg.out)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)

    def _build_model(self, start=None) -> None:
        """A fresh model of ``config.model`` on the device in its memory format, with the weights
        of ``start`` (the model of ``config.init``) when given."""
        self.model = build_model(self.cfg).to(self.device)
        self.fmt = torch.channels_last if self.cfg.channels_last else torch.contiguous_format
        if start is not None:
            self.model.load_state_dict(start.state_dict())
        self.model.to(memory_format=self.fmt)

    def _build_optimizer(self) -> None:
        """Adam (:func:`make_optimizer`) and the warm-up + cosine schedule (:func:`cosine_factor`)."""
        self.optimizer = make_optimizer(self.model, self.cfg.lr, self.cfg.adam_eps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: cosine_factor(s, self.cfg))

    def _trained_module(self) -> torch.nn.Module:
        """The module the loss trains: the NBSN alone for a supervised SSML run, else the model;
        wrapped in DistributedDataParallel when there are several processes."""
        cfg = self.cfg
        trained = self.model.nbsn if cfg.model == "ssml" and cfg.objective == "supervised" else self.model
        if self.world == 1:
            return trained
        return torch.nn.parallel.DistributedDataParallel(
            trained, device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=cfg.bsn_warmup > 0)

    # checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        """The checkpoint dict (every rank's RNG states gathered onto each rank)."""
        rng = rng_state(self.data)
        states = [None] * self.world
        if self.world > 1:
            dist.all_gather_object(states, rng)
        else:
            states = [rng]
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": states, "step": self.step,
                "config": self.cfg.to_dict(), "spikekit_version": __version__,
                "elapsed_s": self.elapsed, "world_size": self.world}

    def save(self) -> Path | None:
        """Write ``<out>/last.pt`` (and ``step_NNNNNNN.pt`` when ``keep_every`` says so), rank 0 only."""
        ckpt = self.checkpoint()  # collective under DDP: every rank calls it
        if not self.is_main:
            return None
        keep = bool(self.cfg.keep_every) and self.step % self.cfg.keep_every == 0
        path = save_checkpoint(self.out, ckpt, keep)
        self.cfg.dump(self.out / "config.yaml")
        return path

    def _load(self, resume) -> None:
        path = resolve_checkpoint(resume)
        ckpt = read_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        self.model.to(memory_format=self.fmt)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scheduler.base_lrs = [self.cfg.lr] * len(self.optimizer.param_groups)
        for group in self.optimizer.param_groups:  # the config decides (a resume may change them)
            group["eps"] = self.cfg.adam_eps
            group["initial_lr"] = self.cfg.lr
            group["lr"] = self.cfg.lr * cosine_factor(int(ckpt["step"]), self.cfg)
        self.step, self.elapsed = int(ckpt["step"]), float(ckpt.get("elapsed_s", 0.0))
        states = ckpt["rng"]
        if len(states) != self.world:
            warnings.warn(f"{path}: saved by {len(states)} process(es), resumed with {self.world}: "
                          "ranks without a saved state start fresh data streams (not bit-exact)")
        if self.rank < len(states):
            set_rng_state(states[self.rank], self.data)

    def _init_model(self, init: str):
        """The SSML model of ``config.init`` (checked before anything is written).

        Raises:
            FileNotFoundError: missing weights.  ValueError: not SSML weights, or weights of the
                other NBSN variant (the message says which ``--nla/--no-nla`` they need).
        """
        lite = self.cfg.model == "lite"
        start = load_model(None if init == "default" else init, lite=lite)  # variant read from the keys
        if isinstance(start, LiteNet) != lite:
            what, model = ("ssml-lite", "lite") if isinstance(start, LiteNet) else ("SSML", "ssml")
            raise ValueError(f"{init}: these are {what} weights; train with --set model={model} "
                             "to start from them")
        if not lite and start.nla != self.cfg.nla:
            have, flag = ("with", "--nla") if start.nla else ("without", "--no-nla")
            raise ValueError(f"{init}: these weights are the NBSN {have} non-local attention; "
                             f"train with {flag} to start from them")
        return start

    # one step ------------------------------------------------------------------------------
    def _autocast(self):
        if self.cfg.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self) -> dict:
        """One optimiser step; returns the loss terms (0-d tensors on the device) and the lr."""
        cfg = self.cfg
        batch = self.data.next()
        spikes = batch["spikes"].contiguous(memory_format=self.fmt)
        gt, out = batch["gt"], {}
        if cfg.model == "lite" or cfg.objective == "supervised":
            n = gt.shape[0]  # only the simulated samples have ground truth
            with self._autocast():
                pred = self.net(spikes[:n])
            total = supervised_loss(pred, gt, cfg.gain)
            out["loss/supervised"] = total.detach()
        else:
            warm = self.step < cfg.bsn_warmup
            with self._autocast():
                if warm and self.world == 1:
                    bsn, pred = self.model.bsn(spikes), None
                else:
                    bsn, pred = self.net(spikes)
                    pred = None if warm else pred
            terms = ssml_loss(bsn, pred, pseudo_label(spikes, cfg.pseudo_label), cfg.mutual_weight)
            total = terms.total
            out.update({"loss/reconstruction": terms.reconstruction.detach(), "loss/mutual": terms.mutual.detach()})
            if cfg.objective == "hybrid" and pred is not None:
                n = gt.shape[0]
                sup = supervised_loss(pred[:n], gt, cfg.gain)
                total = total + cfg.sup_weight * sup
                out["loss/supervised"] = sup.detach()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        out.update({"loss/total": total.detach(), "lr": lr})
        if gt is not None and pred is not None:
            n = gt.shape[0]
            err = (pred[:n].detach().float() / cfg.gain - gt).clamp(-1, 1)
            out["train/sim_psnr"] = -10 * torch.log10(err.pow(2).mean().clamp_min(1e-12))
        return out  # tensors stay on the device: read (synchronise) only when logging

    def describe(self) -> str:
        """The lines printed when the run starts: what it trains, from where, on what data
        (:meth:`~ssml.config.TrainConfig.data_mix`), at what rate and precision."""
        cfg = self.cfg
        name = "ssml-lite" if cfg.model == "lite" else "ssml"
        start = (f"from step {self.step}" if self.step else
                 f"from {'the shipped weights' if cfg.init == 'default' else cfg.init}" if cfg.init
                 else "from random weights")
        return (f"{name} train: steps {self.step + 1}-{cfg.steps} {start}, objective {cfg.objective}, "
                f"lr {cfg.lr:g}, {describe_precision('bf16' if cfg.amp == 'bf16' else 'fp32', self.device)}, "
                f"on {self.device}\n{name} train: data: {cfg.data_mix()}; run folder {self.out}")

    # validation ----------------------------------------------------------------------------
    def validate(self) -> dict:
        """The validation metrics of the model now (:class:`ssml.validation.Validator`)."""
        return self.validator(self.model)

    # the loop ------------------------------------------------------------------------------
    def run(self, callback=None, quiet: bool = False) -> dict:
        """Train until ``config.steps``, or until SIGINT/SIGTERM (then checkpoint and return).

        Progress follows :func:`spikekit.progress.progress` (a bar on a terminal, else a line
        per 10 %); each validation prints its PSNR values. ``quiet`` prints neither.

        Args:
            callback: optional ``callback(trainer)`` called after every step (tests, tools).
            quiet: no progress and no validation lines.

        Returns:
            ``{"step", "stopped" (bool: interrupted), "checkpoint" (path or None), "elapsed_s",
            "steps_per_s", "last" (the last logged scalars)}``.
        """
        cfg = self.cfg
        log = ScalarLog(self.out, self.step, enabled=self.is_main)
        if self.is_main:
            cfg.dump(self.out / "config.yaml")
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._on_signal)
        name = "ssml-lite" if cfg.model == "lite" else "ssml"
        if self.is_main and not quiet and self.step < cfg.steps:
            print(self.describe(), file=sys.stderr, flush=True)
        bar = progress(cfg.steps, f"{name} train", "step", quiet=quiet or not self.is_main, initial=self.step)
        if self.device.type == "cpu" and self.is_main and not quiet:
            bar.write(f"{name} train: threads {describe_threads()}; the weights depend on the thread count "
                      f"(config.yaml records threads: {cfg.threads}; --threads N repeats a run elsewhere)")
        last_ckpt, start_step, t_start = time.time(), self.step, time.time()
        ckpt_path, last = None, {}
        try:
            while self.step < cfg.steps:
                t0 = time.time()
                values = self.train_step()
                self.elapsed += time.time() - t0
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    values = {k: float(v) for k, v in values.items()}
                    values["perf/steps_per_s"] = (self.step - start_step) / max(1e-9, time.time() - t_start)
                    log.scalars(self.step, values)
                    bar.set_postfix(loss=f"{values['loss/total']:.3g}", lr=f"{values['lr']:.2g}")
                    last = values
                if cfg.val_every and self.is_main and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                    if self.validator:
                        scores = self.validate()
                        log.scalars(self.step, scores)
                        shown = {k[4:-5]: v for k, v in scores.items()
                                 if k.endswith("_psnr") and not k.endswith("_raw_psnr")}
                        bar.write(f"step {self.step}: validation PSNR "
                                  + ", ".join(f"{name} {v:.2f} dB" for name, v in shown.items()))
                if callback is not None:
                    callback(self)
                stop, due = self._flags(last_ckpt)
                final = stop or self.step == cfg.steps
                if due or final or (cfg.ckpt_every and self.step % cfg.ckpt_every == 0):
                    ckpt_path, last_ckpt = self.save() or ckpt_path, time.time()
                if stop:
                    break
        finally:
            bar.close()
            log.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return {"step": self.step, "stopped": self._stop, "checkpoint": ckpt_path,
                "elapsed_s": self.elapsed, "last": last,
                "steps_per_s": (self.step - start_step) / max(1e-9, time.time() - t_start)}

    def _flags(self, last_ckpt: float) -> tuple[bool, bool]:
        """(stop requested, time-based checkpoint due), agreed by all ranks."""
        due = bool(self.cfg.ckpt_minutes) and time.time() - last_ckpt >= 60 * self.cfg.ckpt_minutes
        if self.world == 1:
            return self._stop, due
        flags = torch.tensor([float(self._stop), float(due)], device=self.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        self._stop = bool(flags[0])
        return self._stop, bool(flags[1])

    def _on_signal(self, signum, _frame):
        if self._stop:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self._stop = True
        if self.is_main:
            print(f"\nssml train: {signal.Signals(signum).name} received, saving a checkpoint "
                  f"after this step (press Ctrl-C again to abort without one)", flush=True)


def build_model(config: TrainConfig) -> torch.nn.Module:
    """A freshly initialised model of ``config.model``: :class:`ssml.SSML` or :class:`ssml.lite.LiteNet`
    of ``config.lite_width`` channels."""
    if config.model == "lite":
        return LiteNet(config.lite_width)
    return SSML(nla=config.nla)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("SSML_DDP_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))


def _device(name: str, local_rank: int, world: int) -> torch.device:
    device = ops.check_device(name)  # the simulator and ISI kernels must exist there too
    if device.type == "cuda":
        if world > 1 and device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def train(config: TrainConfig, resume=None, callback=None, quiet: bool = False) -> dict:
    """Train (or continue) a run; see :meth:`Trainer.run` for ``quiet`` and the returned summary.

    Under torchrun the process group is created here and destroyed at the end.
    """
    trainer = Trainer(config, resume)
    try:
        return trainer.run(callback, quiet)
    finally:
        if trainer.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":  # python -m ssml.train: the same program as python -m ssml (src/ssml/__main__.py)
    import runpy

    runpy.run_module("ssml", run_name="__main__")
