"""How fast a fine-tune from the shipped SSML weights loses them, at each learning rate.

Starts from the shipped weights (``--init default``), trains N steps with the default recipe
(self-supervised loss, half of each batch from ``203_part2``, half simulated; float32, one
thread) at each learning rate, and prints the validation PSNR on ``200_part1`` @150 before and
after (``ssml.validation``). ``ssml.config.FINETUNE_LR`` is chosen from it (docs/training.md).

    python tools/finetune_lr.py --steps 6 --lr 3e-4 1e-4 3e-5 1e-5 [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from ssml.config import TrainConfig
from ssml.train import Trainer


def measure(data: Path, steps: int, lrs: list[float]) -> dict:
    """{"before": PSNR of the shipped weights, "after": {lr: PSNR after ``steps`` steps}} in dB."""
    reds = data / "reds301"
    val = f"{reds}/spike/200_part1_key_id151.dat:{reds}/gt/200_part1_key_id151.png:150"
    result = {"steps": steps, "after": {}}
    for lr in lrs:
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(out=out, init="default", lr=lr, steps=steps, dat=[f"{reds}/spike/203_part2_key_id151.dat"],
                              val=[val], val_sim=0, val_every=0, ckpt_every=0, ckpt_minutes=0, threads=1, amp="none")
            trainer = Trainer(cfg)
            result.setdefault("before", trainer.validate()["val/200_part1_psnr"])
            for _ in range(steps):
                trainer.train_step()
            result["after"][f"{lr:g}"] = trainer.validate()["val/200_part1_psnr"]
            print(f"lr {lr:g}: {result['before']:.2f} dB -> {result['after'][f'{lr:g}']:.2f} dB after {steps} steps",
                  flush=True)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-4, 1e-4, 3e-5, 1e-5])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = measure(args.data, args.steps, args.lr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
