"""SSML speed: NBSN inference per 250x400 frame against a plain re-implementation of the
official inference path, plus (same run) the training figures of bench_ssml_train.py.

Reference ("official path", written here from the paper's description of the released code,
same layer sizes and the same parameter names, so it loads our weights and must give our
output): float32 NCHW; every conv as replicate-pad then conv then LeakyReLU; the AMIM module
called once per sub-stream, each call computing TFI (and the TFP pseudo-label the official
forward also returns) in a per-sample NumPy loop on the CPU; the three U-Net(43->32) passes one
after the other; for NLA, a criss-cross attention that builds the full (H+W)-wide energy per
pixel and one softmax over it.

Ours: ``ssml.NBSN`` in eval mode under ``torch.no_grad``, float32 channels-last
(``spikekit recon -m ssml --param precision=fp32``), and bf16 autocast channels-last (``precision=bf16``,
the default where the CPU has native bf16; see src/ssml/precision.py). Each row is
the median of N; ratios are reference seconds / our seconds, measured in the same run; outputs are
checked against the reference (max |diff|).

    python benchmarks/bench_ssml.py [--quick] [--device cuda] [--no-train] [--json-out PATH]
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import REPO, bench_parser, median_time, peak_rss_mb, print_table, write_json  # noqa: E402

import ssml  # noqa: E402
from ssml.networks import SUBSTREAMS  # noqa: E402

# --- the reference: plain modules with our parameter names ------------------------------------


class RefConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, bias=False)

    def forward(self, x):
        return F.leaky_relu(self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate")), 0.1)


def ref_convs(chs):
    return nn.Sequential(*(RefConv(a, b) for a, b in zip(chs[:-1], chs[1:])))


class RefUNet(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.enc1, self.enc2 = ref_convs([cin, 48, 48, 48]), ref_convs([48, 48, 48, 48])
        self.enc3, self.dec2 = ref_convs([48, 96, 96, 48]), ref_convs([96, 96, 96, 96, 96])
        self.dec1 = ref_convs([96 + cin, 96, 96, 96, cout])

    @staticmethod
    def up(x, skip):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        return torch.cat((F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2]), skip), dim=1)

    def forward(self, x):
        e1 = F.max_pool2d(self.enc1(x), 2)
        e2 = F.max_pool2d(self.enc2(e1), 2)
        y = self.dec2(self.up(self.enc3(e2), e1))
        return self.dec1(self.up(y, x))


def numpy_tfi_per_sample(window: torch.Tensor, middle: int, search: int = 12):
    """The official style: one sample at a time on the CPU, a NumPy loop over frames."""
    tfis, labels = [], []
    for sample in window:
        s = sample.cpu().numpy()
        left = np.full(s.shape[1:], middle - search, dtype=np.float64)
        right = np.full(s.shape[1:], middle + search, dtype=np.float64)
        found_l = np.zeros(s.shape[1:], dtype=bool)
        found_r = np.zeros(s.shape[1:], dtype=bool)
        for d in range(search):
            lf, rf = middle - d, middle + 1 + d
            if lf >= 0:
                hit = (s[lf] > 0) & ~found_l
                left[hit] = lf
                found_l |= hit
            if rf < s.shape[0]:
                hit = (s[rf] > 0) & ~found_r
                right[hit] = rf
                found_r |= hit
        tfis.append(torch.tensor(1.0 / (right - left), dtype=torch.float32)[None])
        labels.append(sample[middle - 3:middle + 4].cpu().mean(dim=0, keepdim=True))
    return torch.stack(tfis).to(window.device), torch.stack(labels).to(window.device)


class RefAMIM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tfp = nn.ModuleList(nn.Conv2d(w, 1, 1, bias=False) for w in (11, 19, 27))
        self.tfp_conv, self.tfi_conv = RefConv(3, 16), RefConv(1, 16)
        self.spatial = nn.Module()
        self.spatial.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.channel = nn.Module()
        self.channel.mlp = nn.Sequential(nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16))

    def gate_s(self, x):
        return x * torch.sigmoid(self.spatial.conv(torch.cat((x.max(1, True)[0], x.mean(1, True)), 1)))

    def forward(self, x):
        m = 13
        tfi, _label = numpy_tfi_per_sample(x, m)
        tfps = torch.cat([c(x[:, m - w // 2:m + w // 2 + 1]) for c, w in zip(self.tfp, (11, 19, 27))], 1)
        fused = self.gate_s(self.tfp_conv(tfps)) + self.gate_s(self.tfi_conv(tfi))
        logits = self.channel.mlp(fused.mean((2, 3))) + self.channel.mlp(fused.amax((2, 3)))
        return fused * torch.sigmoid(logits)[:, :, None, None]


class RefCCA(nn.Module):
    def __init__(self, c=32):
        super().__init__()
        self.q, self.k, self.v = nn.Conv2d(c, c // 8, 1), nn.Conv2d(c, c // 8, 1), nn.Conv2d(c, c, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, _, h, w = x.shape
        q, k, v = self.q(x), self.k(x), self.v(x)
        qh = q.permute(0, 3, 2, 1).reshape(n * w, h, -1)
        kh = k.permute(0, 3, 1, 2).reshape(n * w, -1, h)
        diag = torch.diag(torch.full((h,), float("-inf"))).to(x.device)
        eh = (torch.bmm(qh, kh) + diag).reshape(n, w, h, h).permute(0, 2, 1, 3)
        qw = q.permute(0, 2, 3, 1).reshape(n * h, w, -1)
        kw = k.permute(0, 2, 1, 3).reshape(n * h, -1, w)
        ew = torch.bmm(qw, kw).reshape(n, h, w, w)
        att = torch.softmax(torch.cat((eh, ew), dim=3), dim=3)
        ah = att[..., :h].permute(0, 2, 1, 3).reshape(n * w, h, h)
        aw = att[..., h:].reshape(n * h, w, w)
        vh = v.permute(0, 3, 1, 2).reshape(n * w, -1, h)
        vw = v.permute(0, 2, 1, 3).reshape(n * h, -1, w)
        oh = torch.bmm(vh, ah.transpose(1, 2)).reshape(n, w, -1, h).permute(0, 2, 3, 1)
        ow = torch.bmm(vw, aw.transpose(1, 2)).reshape(n, h, -1, w).permute(0, 2, 1, 3)
        return self.gamma * (oh + ow) + x


class RefCAM(nn.Module):
    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c = x.shape[:2]
        flat = x.reshape(n, c, -1)
        e = torch.bmm(flat, flat.transpose(1, 2))
        a = torch.softmax(e.max(-1, keepdim=True)[0].expand_as(e) - e, dim=-1)
        return self.gamma * torch.bmm(a, flat).reshape(x.shape) + x


def _cr(c):
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU())


class RefNLA(nn.Module):
    def __init__(self, c=32, t=3):
        super().__init__()
        self.spatial_in, self.spatial_out, self.cca = _cr(c), _cr(c), RefCCA(c)
        self.channel_in, self.channel_out, self.channel = _cr(c), _cr(c), RefCAM()
        self.temporal_in, self.temporal_out, self.temporal = _cr(t), _cr(t), RefCAM()
        self.fuse = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, t, c, h, w = x.shape
        flat = x.reshape(-1, c, h, w)
        s = self.spatial_out(self.cca(self.cca(self.spatial_in(flat)))).reshape(b, t, c, h, w)
        ch = self.channel_out(self.channel(self.channel_in(flat))).reshape(b, t, c, h, w)
        tm = self.temporal_in(x.permute(0, 2, 1, 3, 4).reshape(-1, t, h, w))
        tm = self.temporal_out(self.temporal(tm)).reshape(b, c, t, h, w).permute(0, 2, 1, 3, 4)
        return x + self.fuse((s + ch + tm).reshape(-1, c, h, w)).reshape(b, t, c, h, w)


class RefHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (nn.Conv2d(i, o, 1, bias=False) for i, o in ((384, 384), (384, 96), (96, 1)))

    def forward(self, x):
        return self.c(F.leaky_relu(self.b(F.leaky_relu(self.a(x), 0.1)), 0.1))


class RefNBSN(nn.Module):
    """The official inference path: sub-streams one at a time, per-sample CPU TFI in each."""

    def __init__(self, nla: bool):
        super().__init__()
        self.amim, self.unet1 = RefAMIM(), RefUNet(43, 32)
        self.nla = RefNLA() if nla else None
        self.unet2, self.head = RefUNet(96, 384), RefHead()

    def forward(self, x):
        ys = []
        for a, e in SUBSTREAMS:
            sub = x[:, a:e]
            ys.append(self.unet1(torch.cat((sub, self.amim(sub)), 1)))
        if self.nla is None:
            y = torch.cat(ys, 1)
        else:
            y = self.nla(torch.stack(ys, 1)).flatten(1, 2)
        return self.head(self.unet2(y))


# --- the benchmark -----------------------------------------------------------------------------

def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bench_inference(size=(250, 400), nla=True, repeats=3, device="cpu", seed=0) -> dict:
    """Seconds per frame: reference vs ours (fp32 channels-last, bf16 channels-last)."""
    torch.manual_seed(seed)
    ours = ssml.NBSN(nla=nla).eval()
    with torch.no_grad():  # non-trivial attention (gammas start at 0)
        for name, p in ours.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    ref = RefNBSN(nla).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours, ref = ours.to(device), ref.to(device)
    x = (torch.rand(1, 41, *size, device=device) < 0.3).float()
    ours_cl = ours.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    dev = torch.device(device).type

    def run_ref():
        with torch.no_grad():
            out = ref(x)
        _sync(device)
        return out

    def run_ours(bf16=False):
        with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            out = ours_cl(x_cl)
        _sync(device)
        return out

    y_ref, y32, y16 = run_ref(), run_ours(), run_ours(True).float()  # also the warm-up
    scale = y_ref.abs().max().item()
    times = {"ref": [], "fp32": [], "bf16": []}
    for _ in range(repeats):  # interleaved: a shared machine's load drifts between runs
        times["ref"].append(median_time(run_ref, 1, warmup=0))
        times["fp32"].append(median_time(run_ours, 1, warmup=0))
        times["bf16"].append(median_time(lambda: run_ours(True), 1, warmup=0))
    t_ref, t32, t16 = (statistics.median(times[k]) for k in ("ref", "fp32", "bf16"))
    tag = f"NBSN nla={nla} {size[0]}x{size[1]}"
    return {"rows": [
        {"case": tag, "variant": "reference (official path)", "s_per_frame": t_ref, "speedup": 1.0,
         "max_rel_diff": 0.0},
        {"case": tag, "variant": "ours fp32 channels-last", "s_per_frame": t32, "speedup": t_ref / t32,
         "max_rel_diff": (y32 - y_ref).abs().max().item() / scale},
        {"case": tag, "variant": "ours bf16 channels-last", "s_per_frame": t16, "speedup": t_ref / t16,
         "max_rel_diff": (y16 - y_ref).abs().max().item() / scale}]}


def main(argv=None) -> dict:
    ap = bench_parser(__doc__, "bench_ssml", "96x160 frames, 1 repeat, quick training figures "
                      "(about a minute on 2 idle cores)", repeats=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--no-train", action="store_true", help="skip the training/generator figures")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size, repeats = ((96, 160), 1) if args.quick else ((250, 400), args.repeats)
    rows = []
    for nla in (False, True):
        rows += bench_inference(size, nla, repeats, args.device)["rows"]
    print(f"SSML NBSN inference, {args.device}, {torch.get_num_threads()} threads, median of {repeats} "
          "(speedup = reference s / ours s, same run)")
    print_table(rows, ["case", "variant", "s_per_frame", "speedup", "max_rel_diff"])
    result = {"device": args.device, "threads": torch.get_num_threads(), "size": list(size), "repeats": repeats,
              "inference": rows, "peak_rss_mb": peak_rss_mb()}
    if not args.no_train:
        import bench_ssml_train as train_bench
        sub = ["--device", args.device, "--json-out", str(Path(args.json_out).with_name("bench_ssml_train.json"))]
        result["training"] = train_bench.main(sub + (["--quick"] if args.quick else []))
    write_json(args.json_out, result)
    print(f"wrote {args.json_out}")
    return result


if __name__ == "__main__":
    main()
