"""PyTorch reference for bench/train.ts: the same Table-1 start net and training recipe, timed on CPU.

C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), C(128,3,1), P(4,4,AVG), FC(256), SM(10);
every conv/fc without bias, then BatchNorm, then ReLU; classifier with bias. SGD Nesterov momentum 0.9, lr 0.02,
L2 weight decay 1e-4 on conv/fc kernels, softmax cross-entropy, random 32x32x3 inputs, batch 64.
Prints one JSON object on the last line.
"""
import argparse
import json
import resource
import time

import torch
from torch import nn


def build() -> nn.Module:
    layers = []
    cin = 3
    for i, c in enumerate([16, 32, 64, 128]):
        layers += [nn.Conv2d(cin, c, 3, 1, padding=1, bias=False), nn.BatchNorm2d(c, eps=1e-5, momentum=0.01), nn.ReLU()]
        layers.append(nn.MaxPool2d(2, 2) if i < 3 else nn.AvgPool2d(4, 4))
        cin = c
    layers += [nn.Flatten(), nn.Linear(128, 256, bias=False), nn.BatchNorm1d(256, eps=1e-5, momentum=0.01), nn.ReLU(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build()
    model.train()
    decay = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    decay_ids = {id(w) for w in decay}
    rest = [q for q in model.parameters() if id(q) not in decay_ids]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0.0}], lr=0.02, momentum=0.9, nesterov=True
    )
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, 3, 32, 32) * 2 - 1
    y = torch.randint(0, 10, (a.batch,))

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
    print(
        json.dumps(
            {
                "images_per_s": round(a.steps * a.batch / dt, 1),
                "images_per_cpu_s": round(a.steps * a.batch / cpu, 1),
                "threads": torch.get_num_threads(),
                "torch_version": torch.__version__,
                "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
