#!/usr/bin/python3
"""The same networks in PyTorch, for a fair images-per-second comparison.

Builds a moecl preset (assets/models/NAME.json: plain layer lists, the soft
mixture, the switch mixture) as a torch module and times training steps
(forward, cross-entropy, backward, Adam) and inference at a batch size on
random images, with as many threads as cores unless --threads says.
Optional: needs Debian's python3-torch; run it with /usr/bin/python3.

    /usr/bin/python3 bench/pytorch_peer.py --model vgg --batch 128 --steps 5
"""
import argparse
import json
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def build_layers(layers, in_shape):
    c, h, w = in_shape
    mods, final_softmax = [], False
    for i, spec in enumerate(layers):
        t = spec["type"]
        if t == "conv2d":
            k = spec.get("kernel_size", 3)
            s = spec.get("strides", 1)
            pad = k // 2 if spec.get("padding", "valid") == "same" else 0
            mods.append(nn.Conv2d(c, spec["filters"], k, s, pad))
            c = spec["filters"]
            h, w = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        elif t == "maxpool":
            p = spec.get("pool_size", 2)
            mods.append(nn.MaxPool2d(p))
            h, w = h // p, w // p
        elif t == "dropout":
            mods.append(nn.Dropout(spec["rate"]))
        elif t == "flatten":
            mods.append(nn.Flatten())
            c, h, w = c * h * w, 1, 1
        elif t == "dense":
            mods.append(nn.Linear(c * h * w, spec["units"]))
            c, h, w = spec["units"], 1, 1
        elif t == "batchnorm":
            mods.append(nn.BatchNorm2d(c) if h > 1 else nn.BatchNorm1d(c))
        else:
            raise SystemExit(f"pytorch_peer: layer type {t!r} is not built here")
        act = spec.get("activation")
        if act == "relu":
            mods.append(nn.ReLU(inplace=True))
        elif act == "softmax":
            final_softmax = i == len(layers) - 1
    return nn.Sequential(*mods), final_softmax


class Plain(nn.Module):
    """A layer list; a final softmax is left to the loss (as moecl fuses it)."""

    def __init__(self, spec):
        super().__init__()
        self.net, _ = build_layers(spec["layers"], spec["input"])

    def forward(self, x):
        return F.log_softmax(self.net(x), dim=1)


class Soft(nn.Module):
    """Gate-weighted sum of the experts' class probabilities."""

    def __init__(self, spec):
        super().__init__()
        parts = {p["name"]: p for p in spec["parts"]}
        mix = spec["mixture"]
        self.gate, _ = build_layers(parts[mix["gate"]]["layers"], spec["input"])
        self.experts = nn.ModuleList(build_layers(parts[e]["layers"], spec["input"])[0]
                                     for e in mix["experts"])

    def forward(self, x):
        g = F.softmax(self.gate(x), dim=1)
        p = torch.stack([F.softmax(e(x), dim=1) for e in self.experts], dim=1)
        return torch.log((g.unsqueeze(2) * p).sum(1) + 1e-7)


class Switch(nn.Module):
    """Top-1 routing with a capacity: each expert runs only on its images."""

    def __init__(self, spec):
        super().__init__()
        parts = {p["name"]: p for p in spec["parts"]}
        mix = spec["mixture"]
        self.capacity = mix.get("capacity_factor", 1.25)
        self.router, _ = build_layers(parts[mix["gate"]]["layers"], spec["input"])
        self.experts = nn.ModuleList(build_layers(parts[e]["layers"], spec["input"])[0]
                                     for e in mix["experts"])

    def forward(self, x):
        probs = F.softmax(self.router(x), dim=1)
        top, route = probs.max(dim=1)
        cap = int(self.capacity * x.shape[0] / len(self.experts))
        out = torch.zeros(x.shape[0], 10)
        for k, expert in enumerate(self.experts):
            idx = (route == k).nonzero(as_tuple=True)[0][:cap]
            if idx.numel():
                out[idx] = expert(x[idx]) * top[idx].unsqueeze(1)
        return F.log_softmax(out, dim=1)


def build(name):
    with open(os.path.join(HERE, "..", "assets", "models", name + ".json")) as f:
        spec = json.load(f)
    if "mixture" not in spec:
        return Plain(spec)
    kind = spec["mixture"]["type"]
    if kind == "soft":
        return Soft(spec)
    if kind == "switch":
        return Switch(spec)
    raise SystemExit(f"pytorch_peer: mixture {kind!r} is not built here")


def time_steps(model, x, y, steps, training):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train(training)
    for s in range(steps + 1):  # the first step warms up, untimed
        if s == 1:
            start = time.perf_counter()
        with torch.set_grad_enabled(training):
            loss = F.nll_loss(model(x), y)
            if training:
                opt.zero_grad()
                loss.backward()
                opt.step()
        loss.item()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vgg")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = build(a.model)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    t_train = time_steps(model, x, y, a.steps, True)
    t_infer = time_steps(model, x, y, a.steps, False)
    n = a.batch * a.steps
    print(f"pytorch {torch.__version__}, {a.threads} threads, model {a.model}, batch {a.batch}, "
          f"{a.steps} steps")
    print(f"training:  {n / t_train:8.1f} images/s")
    print(f"inference: {n / t_infer:8.1f} images/s")


if __name__ == "__main__":
    main()
