"""PyTorch twin for bench/train.ts: the same network, generated from the same architecture, and the same recipe, timed on CPU.

--arch is eas's architecture as JSON (src/arch's plain nets or src/densenet's DenseNet-BC), --input H,W,C:
- plain: every conv/fc without bias, then BatchNorm, then ReLU; pools; classifier with bias. Convs and pools use
  TensorFlow's 'same' padding (asymmetric when needed; max pools pad with -inf, average pools exclude the padding).
- DenseNet-BC: stem conv; per dense layer BN-ReLU-Conv1x1 (bottleneck)-BN-ReLU-Conv3x3 (growth), its output
  concatenated to its input; transitions BN-ReLU-Conv1x1-AvgPool2; final BN-ReLU, global average pool, classifier.
Without --arch: the Table-1 start net on 32x32x3.
SGD Nesterov momentum 0.9, lr 0.02, L2 weight decay 1e-4 on conv/fc kernels, softmax cross-entropy, random inputs.
Also measures this process's BLAS sgemm (torch.mm, n x n, the same threads): the practical peak through the BLAS
PyTorch is linked with (Debian: libblas.so.3, OpenBLAS when libopenblas0-pthread is installed).
Prints one JSON object on the last line.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F
from torch import nn

TABLE1 = {
    "input": [32, 32, 3],
    "classes": 10,
    "layers": [
        {"type": "conv", "filters": 16, "kernel": 3, "stride": 1},
        {"type": "pool", "op": "max", "size": 2, "stride": 2},
        {"type": "conv", "filters": 32, "kernel": 3, "stride": 1},
        {"type": "pool", "op": "max", "size": 2, "stride": 2},
        {"type": "conv", "filters": 64, "kernel": 3, "stride": 1},
        {"type": "pool", "op": "max", "size": 2, "stride": 2},
        {"type": "conv", "filters": 128, "kernel": 3, "stride": 1},
        {"type": "pool", "op": "avg", "size": 4, "stride": 4},
        {"type": "fc", "units": 256},
    ],
}


def same_pad(size: int, k: int, s: int):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    def __init__(self, cin, cout, k, s, size):
        super().__init__()
        self.pad = same_pad(size[0], k, s) + same_pad(size[1], k, s)  # (top, bottom, left, right)
        sym = self.pad[0] == self.pad[1] and self.pad[2] == self.pad[3]
        self.conv = nn.Conv2d(cin, cout, k, s, padding=(self.pad[0], self.pad[2]) if sym else 0, bias=False)
        self.explicit = not sym

    def forward(self, x):
        if self.explicit:
            t, b, l, r = self.pad
            x = F.pad(x, (l, r, t, b))
        return self.conv(x)


class SamePool(nn.Module):
    def __init__(self, op, k, s, size):
        super().__init__()
        self.op, self.k, self.s = op, k, s
        t, b = same_pad(size[0], k, s)
        l, r = same_pad(size[1], k, s)
        self.pad = (l, r, t, b)

    def forward(self, x):
        if self.op == "max":
            return F.max_pool2d(F.pad(x, self.pad, value=-math.inf) if any(self.pad) else x, self.k, self.s)
        if not any(self.pad):
            return F.avg_pool2d(x, self.k, self.s)
        ones = torch.ones(1, 1, x.shape[2], x.shape[3])
        count = F.avg_pool2d(F.pad(ones, self.pad), self.k, self.s)
        return F.avg_pool2d(F.pad(x, self.pad), self.k, self.s) / count


def build_plain(arch) -> nn.Module:
    h, w, cin = arch["input"]
    layers = []
    flat = None
    for l in arch["layers"]:
        if l["type"] == "conv":
            layers += [SameConv(cin, l["filters"], l["kernel"], l["stride"], (h, w)), nn.BatchNorm2d(l["filters"], eps=1e-5, momentum=0.01), nn.ReLU()]
            h, w, cin = math.ceil(h / l["stride"]), math.ceil(w / l["stride"]), l["filters"]
        elif l["type"] == "pool":
            layers.append(SamePool(l["op"], l["size"], l["stride"], (h, w)))
            h, w = math.ceil(h / l["stride"]), math.ceil(w / l["stride"])
        else:
            if flat is None:
                layers.append(nn.Flatten())
                flat = h * w * cin
            layers += [nn.Linear(flat, l["units"], bias=False), nn.BatchNorm1d(l["units"], eps=1e-5, momentum=0.01), nn.ReLU()]
            flat = l["units"]
    if flat is None:
        layers.append(nn.Flatten())
        flat = h * w * cin
    layers.append(nn.Linear(flat, arch["classes"]))
    return nn.Sequential(*layers)


def bn_relu_conv(cin, cout, k):
    return nn.Sequential(nn.BatchNorm2d(cin, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, k, 1, padding=k // 2, bias=False))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bottleneck):
        super().__init__()
        self.f = nn.Sequential(bn_relu_conv(cin, bottleneck, 1), bn_relu_conv(bottleneck, growth, 3))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


def build_dense(net) -> nn.Module:
    stem = net["stem"]
    c = stem["filters"]
    mods = [nn.Conv2d(net["input"][2], c, stem["kernel"], 1, padding=stem["kernel"] // 2, bias=False)]
    for b in net["blocks"]:
        for l in b["layers"]:
            mods.append(DenseLayer(c, l["growth"], l["bottleneck"]))
            c += l["growth"]
        if b.get("transition") is not None:
            mods += [bn_relu_conv(c, b["transition"], 1), nn.AvgPool2d(2, 2)]
            c = b["transition"]
    mods += [nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, net["classes"])]
    return nn.Sequential(*mods)


def blas_peak(n: int, reps: int):
    """Best GFLOP/s of reps n^3 sgemm calls, by wall-clock and by this process's CPU time."""
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    torch.mm(a, b)
    best = best_cpu = 0.0
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        best = max(best, 2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
        best_cpu = max(best_cpu, 2.0 * n**3 / max(time.process_time() - c0, 1e-9) / 1e9)
    return best, best_cpu


def blas_library() -> str:
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1].rsplit("/", 1)[-1] for line in f if ".so" in line}
        for name in ("libopenblas", "libmkl", "libblis", "libblas"):
            hit = sorted(l for l in libs if l.startswith(name))
            if hit:
                return hit[0]
    except OSError:
        pass
    return "unknown"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--arch", type=str, default=None, help="eas architecture JSON")
    p.add_argument("--peak-n", type=int, default=2048)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    arch = json.loads(a.arch) if a.arch else TABLE1
    model = build_dense(arch) if arch.get("space") == "densenet" else build_plain(arch)
    model.train()
    decay = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    decay_ids = {id(w) for w in decay}
    rest = [q for q in model.parameters() if id(q) not in decay_ids]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0.0}], lr=0.02, momentum=0.9, nesterov=True
    )
    loss_fn = nn.CrossEntropyLoss()
    h, w, c = arch["input"]
    x = torch.rand(a.batch, c, h, w) * 2 - 1
    y = torch.randint(0, arch["classes"], (a.batch,))

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak, peak_cpu = blas_peak(a.peak_n, 5) if a.peak_n > 0 else (None, None)
    print(
        json.dumps(
            {
                "images_per_s": round(a.steps * a.batch / dt, 1),
                "images_per_cpu_s": round(a.steps * a.batch / cpu, 1),
                "threads": torch.get_num_threads(),
                "torch_version": torch.__version__,
                "max_rss_mb": round(max_rss, 1),
                "params": sum(q.numel() for q in model.parameters()),
                "blas_sgemm_gflops": round(peak, 1) if peak else None,
                "blas_sgemm_gflops_per_cpu_s": round(peak_cpu, 1) if peak_cpu else None,
                "blas": blas_library(),
            }
        )
    )


if __name__ == "__main__":
    main()
