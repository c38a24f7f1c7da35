"""SSML training speed: steps/s of a training step, and batches/s of the on-device data generator.

Training (batch 4 x 41 x 40 x 40, the SSML model with NLA, Adam, the default tfp7 loss), each
variant as a ratio to float32 contiguous (NCHW) measured in the same run:
float32 channels-last, bf16 autocast, bf16 autocast channels-last. Also the relative error of the
bf16 forward against float32 on the same input.

Data: simulated batches/s of :class:`ssml.data.TrainData` (scenes rendered and simulated on the
device) and windows/s from ``.dat`` streams cached on the device, each as a ratio to the fastest
training step rate (how many times faster the generator is than the model consumes batches).

Every figure is the median of ``--repeats`` repetitions. ``--quick`` runs in < 60 s on 2 cores;
``--device cuda`` for the GPU check; JSON to ``--json-out`` (default bench_out/bench_ssml_train.json).

    python benchmarks/bench_ssml_train.py [--quick] [--device cuda] [--profile]
"""
from __future__ import annotations

import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
from common import bench_parser, peak_rss_mb, write_json  # noqa: E402
SHARED = REPO.parent / "shared" / "data" / "reds301" / "spike"
VARIANTS = (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True))


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def make_step(device, amp: str, channels_last: bool, nla: bool = True, batch: int = 4, crop: int = 40, seed: int = 0):
    """A closure running one SSML training step on a fixed random batch, and the model."""
    import ssml
    from ssml.losses import pseudo_label, ssml_loss

    torch.manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ssml.SSML(nla=nla).to(device).to(memory_format=fmt).train()
    from ssml.train import make_optimizer

    opt = make_optimizer(model, 3e-4)
    gen = torch.Generator(device=device).manual_seed(seed)
    spikes = (torch.rand(batch, 41, crop, crop, generator=gen, device=device) < 0.3).float()
    spikes = spikes.contiguous(memory_format=fmt)
    dev_type = torch.device(device).type

    def step():
        label = pseudo_label(spikes)
        ctx = torch.autocast(dev_type, dtype=torch.bfloat16) if amp == "bf16" else nullcontext()
        with ctx:
            bsn, nbsn = model(spikes)
        loss = ssml_loss(bsn, nbsn, label).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, model, spikes


def rate(fn, device, reps: int, inner: int, warmup: int = 1) -> float:
    """Median calls per second of ``fn`` over ``reps`` timings of ``inner`` calls each."""
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        out.append(inner / (time.perf_counter() - t))
    return statistics.median(out)


def bench_training(device="cpu", reps=3, inner=2, nla=True, variants=VARIANTS) -> dict:
    """Training steps/s per (amp, channels_last) variant, with ratios to the first variant."""
    rows = {}
    for amp, cl in variants:
        name = f"{amp}{'_channels_last' if cl else ''}"
        try:
            step, _, _ = make_step(device, amp, cl, nla)
            rows[name] = {"steps_per_s": rate(step, device, reps, inner)}
        except RuntimeError as exc:  # report a variant the model cannot run, keep the others
            rows[name] = {"error": str(exc).splitlines()[0]}
    ref = next(iter(rows.values())).get("steps_per_s")
    for row in rows.values():
        if "steps_per_s" in row and ref:
            row["ratio_vs_fp32"] = row["steps_per_s"] / ref
    return rows


@torch.no_grad()
def bf16_forward_error(device="cpu", nla=True) -> float:
    """max |bf16 - fp32| / max |fp32| of the (BSN, NBSN) forward on one random batch."""
    _, model, spikes = make_step(device, "fp32", False, nla)
    ref = torch.cat(model(spikes))
    try:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            low = torch.cat(model(spikes)).float()
    except RuntimeError:
        return float("nan")
    return float((low - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def bench_generator(device="cpu", reps=3, inner=5) -> dict:
    """Batches/s (batch 4, 41 x 40 x 40) of the simulated source and of the cached .dat source."""
    from ssml.config import TrainConfig
    from ssml.data import TrainData

    out = {}
    data = TrainData(TrainConfig(batch=4, sim_fraction=1.0), device)
    out["simulated"] = {"batches_per_s": rate(data.next, device, reps, inner)}
    dats = [str(SHARED / f"203_part{i}_key_id151.dat") for i in (2, 3)]
    if all(Path(d).is_file() for d in dats):
        data = TrainData(TrainConfig(batch=4, dat=dats, sim_fraction=0.0), device)
        out["dat_cached"] = {"batches_per_s": rate(data.next, device, reps, inner)}
    return out


def profile_step(device="cpu", amp="fp32", channels_last=False, nla=True, rows=20) -> str:
    """torch.profiler table (self CPU time) of two training steps."""
    from torch.profiler import profile

    step, _, _ = make_step(device, amp, channels_last, nla)
    step()
    with profile() as prof:
        step()
        step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv=None) -> dict:
    ap = bench_parser(__doc__, "bench_ssml_train",
                      "one timing each of fp32 and bf16 channels-last (< 60 s on 2 idle cores)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--no-nla", action="store_true", help="NBSN without non-local attention")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of the fp32 step")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    reps, inner = (1, 1) if args.quick else (args.repeats, 3)
    nla = not args.no_nla
    variants = (VARIANTS[0], VARIANTS[3]) if args.quick else VARIANTS  # quick: fp32 vs bf16 channels-last
    train = bench_training(args.device, reps, inner, nla, variants)
    gen = bench_generator(args.device, reps, 3 if args.quick else 10)
    best = max((r["steps_per_s"] for r in train.values() if "steps_per_s" in r), default=float("nan"))
    for row in gen.values():
        row["ratio_vs_training"] = row["batches_per_s"] / best
    result = {"device": args.device, "threads": torch.get_num_threads(), "nla": nla, "batch": "4 x 41 x 40 x 40",
              "reps": reps, "training": train, "bf16_forward_rel_error": bf16_forward_error(args.device, nla),
              "generator": gen, "peak_rss_mb": peak_rss_mb()}
    print(f"SSML training, batch 4 x 41 x 40 x 40, nla={nla}, {args.device}, {result['threads']} threads, "
          f"median of {reps}")
    print(f"{'variant':24s} {'steps/s':>9s} {'vs fp32':>8s}")
    for name, row in train.items():
        if "error" in row:
            print(f"{name:24s} {'error':>9s}  {row['error'][:60]}")
        else:
            print(f"{name:24s} {row['steps_per_s']:9.3f} {row['ratio_vs_fp32']:7.2f}x")
    print(f"bf16 forward relative error vs fp32: {result['bf16_forward_rel_error']:.2e}")
    print(f"{'generator':24s} {'batches/s':>9s} {'vs best training step':>22s}")
    for name, row in gen.items():
        print(f"{name:24s} {row['batches_per_s']:9.2f} {row['ratio_vs_training']:21.1f}x")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")
    if args.profile:
        print(profile_step(args.device, nla=nla))
    write_json(args.json_out, result)
    return result


if __name__ == "__main__":
    main()
