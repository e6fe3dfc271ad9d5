"""PyTorch twin of covsev's CMC network and training step: the reference for `pnpm bench:engine`.

Run with Debian's python3 (python3-torch 1.13), not the pyenv python3 first on PATH:
  /usr/bin/python3 bench/reference/cmc_twin.py train --size 16,64,64 --layers 1,1,1,1 --width 16
  /usr/bin/python3 bench/reference/cmc_twin.py infer --size 64,256,256 --layers 3,4,6,3 --width 64
Prints one JSON line per measurement.

The network follows docs/method.md: ResNeSt "inflated" to 3D with every convolution 1 x k x k;
radix 2, cardinality 1, deep stem (first conv 1x7x7 stride (1,2,2) to stem_width, then two 1x3x3),
max-pool 1x3x3 stride (1,2,2), bottleneck width 64, avd AvgPool3d(3, 2, 1) after the split-attention
conv in blocks with stride 2 (layers 2-4), avg_down AvgPool3d(2, 2) in those shortcuts, split-attention
global pool over D x H x W, inter channels max(in * radix / 4, 32), rSoftMax over the radix.
Heads: projection 2048-2048-128 + L2 norm, classifier 2048 -> 4 (N(0, 0.001), bias 0).
Losses over the 2N views: supervised contrastive (T 0.1, scaled by T / 0.07), mixup
(lambda ~ Beta(0.4, 0.4), per-view partner targets), weighted CE, joined by learnable s1, s2.
"""
import argparse
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv1kk(cin, cout, k, stride=1, groups=1, bias=False):
    return nn.Conv3d(cin, cout, (1, k, k), stride=(1, stride, stride), padding=(0, k // 2, k // 2), groups=groups, bias=bias)


class SplitAttention(nn.Module):
    def __init__(self, cin, channels, radix=2, cardinality=1, reduction=4):
        super().__init__()
        inter = max(cin * radix // reduction, 32)
        self.radix, self.cardinality, self.channels = radix, cardinality, channels
        self.conv = conv1kk(cin, channels * radix, 3, groups=cardinality * radix)
        self.bn0 = nn.BatchNorm3d(channels * radix)
        self.fc1 = nn.Conv3d(channels, inter, 1, groups=cardinality)
        self.bn1 = nn.BatchNorm3d(inter)
        self.fc2 = nn.Conv3d(inter, channels * radix, 1, groups=cardinality)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv(x)))
        b = x.shape[0]
        splits = torch.split(x, self.channels, dim=1)
        gap = sum(splits)
        gap = F.adaptive_avg_pool3d(gap, 1)
        atten = self.fc2(F.relu(self.bn1(self.fc1(gap))))
        atten = atten.view(b, self.cardinality, self.radix, -1).transpose(1, 2)
        atten = F.softmax(atten, dim=1).reshape(b, -1, 1, 1, 1)
        attens = torch.split(atten, self.channels, dim=1)
        return sum(a * s for a, s in zip(attens, splits))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, bottleneck_width=64, is_first=False):
        super().__init__()
        width = int(planes * (bottleneck_width / 64.0))
        self.conv1 = nn.Conv3d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.avd = stride > 1 or is_first
        self.pool = nn.AvgPool3d(3, stride, padding=1) if stride > 1 else None
        self.conv2 = SplitAttention(width, width)
        self.conv3 = nn.Conv3d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.pool is not None:
            out = self.pool(out)
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class ResNeSt3d(nn.Module):
    def __init__(self, in_channels=2, layers=(3, 4, 6, 3), base=64, stem_width=32):
        super().__init__()
        self.stem = nn.Sequential(
            conv1kk(in_channels, stem_width, 7, stride=2), nn.BatchNorm3d(stem_width), nn.ReLU(inplace=True),
            conv1kk(stem_width, stem_width, 3), nn.BatchNorm3d(stem_width), nn.ReLU(inplace=True),
            conv1kk(stem_width, stem_width * 2, 3), nn.BatchNorm3d(stem_width * 2), nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.inplanes = stem_width * 2
        stages = []
        for i, (n, stride) in enumerate(zip(layers, (1, 2, 2, 2))):
            stages.append(self._make_layer(base * 2 ** i, n, stride, base, is_first=(i == 0)))
        self.layers = nn.Sequential(*stages)
        self.out_channels = base * 8 * 4

    def _make_layer(self, planes, blocks, stride, base, is_first):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            pool = [nn.AvgPool3d(stride, stride)] if stride != 1 else []
            downsample = nn.Sequential(*pool, nn.Conv3d(self.inplanes, planes * 4, 1, bias=False), nn.BatchNorm3d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, is_first=is_first)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layers(self.maxpool(self.stem(x)))
        return F.adaptive_avg_pool3d(x, 1).flatten(1)


class CMC(nn.Module):
    def __init__(self, in_channels, layers, base, stem_width, classes=4, proj=128):
        super().__init__()
        self.backbone = ResNeSt3d(in_channels, layers, base, stem_width)
        c = self.backbone.out_channels
        self.projection = nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, proj))
        self.classifier = nn.Linear(c, classes)
        nn.init.normal_(self.classifier.weight, 0, 0.001)
        nn.init.zeros_(self.classifier.bias)
        self.log_vars = nn.Parameter(torch.zeros(2))


def supcon(z, labels, temperature=0.1, base_temperature=0.07):
    sim = z @ z.t() / temperature
    sim = sim - sim.max(dim=1, keepdim=True)[0].detach()
    n = z.shape[0]
    not_self = 1 - torch.eye(n)
    positives = (labels[:, None] == labels[None, :]).float() * not_self
    log_prob = sim - torch.log((torch.exp(sim) * not_self).sum(1, keepdim=True))
    count = positives.sum(1)
    mean_log_prob = (positives * log_prob).sum(1) / count.clamp(min=1)
    has = (count > 0).float()
    return -(temperature / base_temperature) * (mean_log_prob * has).sum() / has.sum().clamp(min=1)


def train_step(model, opt, views, labels, alpha):
    """views: [2, N, C, D, H, W]; labels: [N]."""
    two, n = views.shape[:2]
    x = views.reshape(two * n, *views.shape[2:])
    y = labels.repeat(two)
    f = model.backbone(x)
    z = F.normalize(model.projection(f), dim=1)
    l_con = supcon(z, y)
    l_clf = (alpha[y] * F.cross_entropy(model.classifier(f), y, reduction="none")).mean()  # eq. 7
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    l_mix = 0
    for v in range(two):
        perm = torch.randperm(n)
        mixed = lam * views[v] + (1 - lam) * views[v][perm]
        logits = model.classifier(model.backbone(mixed))
        l_mix = l_mix + lam * F.cross_entropy(logits, labels) + (1 - lam) * F.cross_entropy(logits, labels[perm])  # eq. 6
    l_mix = l_mix / two
    s1, s2 = model.log_vars[0], model.log_vars[1]
    loss = torch.exp(-s1) * l_con + s1 + torch.exp(-s2) * (l_mix + l_clf) + s2
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "infer"])
    p.add_argument("--size", default="16,64,64")
    p.add_argument("--layers", default="1,1,1,1")
    p.add_argument("--width", type=int, default=16, help="base planes (64 in ResNeSt-50)")
    p.add_argument("--stem", type=int, default=0, help="stem width (32 in ResNeSt-50; default width/2)")
    p.add_argument("--batch", type=int, default=2, help="scans per step (each gives two views)")
    p.add_argument("--channels", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d, h, w = (int(s) for s in a.size.split(","))
    layers = tuple(int(s) for s in a.layers.split(","))
    model = CMC(a.channels, layers, a.width, a.stem or a.width // 2)
    alpha = torch.tensor([0.1506, 0.2065, 0.1506, 0.4923])
    times = []
    if a.mode == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-5)
        views = torch.randn(2, a.batch, a.channels, d, h, w)
        labels = torch.arange(a.batch) % 4
        for i in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            train_step(model, opt, views, labels, alpha)
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    else:
        model.eval()
        x = torch.randn(1, a.channels, d, h, w)
        with torch.no_grad():
            for i in range(a.warmup + a.steps):
                t0 = time.perf_counter()
                model.classifier(model.backbone(x))
                if i >= a.warmup:
                    times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({
        "tool": "pytorch", "torch": torch.__version__, "mode": a.mode, "size": [d, h, w], "layers": layers,
        "width": a.width, "batch": a.batch, "threads": a.threads,
        "msMedian": 1000 * times[len(times) // 2], "msMin": 1000 * times[0],
        "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "params": sum(p.numel() for p in model.parameters()),
    }))


if __name__ == "__main__":
    main()
