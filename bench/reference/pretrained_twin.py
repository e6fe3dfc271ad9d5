"""Pretrained-weight round trip (issue 13): writes randomly initialised PyTorch checkpoints with the
names of torchvision's ResNet-34 / DenseNet-121 and of the ResNeSt release (= timm's resnest50d)
as safetensors, plus the outputs covsev must reproduce after loading them.

Run with Debian's python3 (python3-torch 1.13; neither torchvision nor safetensors is needed):
  echo '{"kind": "resnet34", "out": "/tmp/r.safetensors", ...}' | /usr/bin/python3 bench/reference/pretrained_twin.py
Prints one JSON object (the outputs) on stdout.

- resnet34: torchvision's ResNet (BasicBlock, `conv1`, `bn1`, `layerK.J.{conv1,bn1,conv2,bn2,downsample.0/1}`,
  `fc`) at the given channel widths; outputs smp's six encoder features (input, stem, layer1-4).
- densenet121: torchvision's DenseNet (`features.conv0`, `features.denseblockK.denselayerJ.*`,
  `features.transitionK.*`, `features.norm5`, `classifier`) with the given growth / init width;
  outputs smp's six features (TransitionWithSkip: the skip is taken after each transition's ReLU).
- resnest: the ResNeSt release's 2D network (deep stem `conv1.0/1/3/4/6`, `bn1`, Bottleneck with
  SplAtConv2d `conv2.{conv,bn0,fc1,bn1,fc2}`, avd AvgPool after conv2, avg_down shortcuts
  `downsample.{0: pool, 1: conv, 2: bn}`, `fc`), written as the 2D checkpoint; then inflated here
  into the PyTorch CMC twin (bench/reference/cmc_twin.py, every conv 1 x k x k) by this script's own
  name map, the stem's first conv by the `mean` rule (RGB kernel averaged, repeated over the input
  channels, centred in the twin's 7 x 7); outputs the twin's pooled features on a volume.
Batch norms get random statistics so that eval mode is not the identity.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def save_safetensors(state, path):
    """The format by hand (8-byte little-endian header length, JSON header, raw little-endian data)."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header, blobs, at = {}, [], 0
    for k, t in state.items():
        b = t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(b"".join(blobs))


def randomise_bn(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(17)


def flat(t):
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


# ---- torchvision ResNet-34 (names as torchvision.models.resnet) ----
class BasicBlock(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.downsample = None
        if stride != 1 or cin != c:
            self.downsample = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    def __init__(self, widths, layers=(3, 4, 6, 3), classes=1000):
        super().__init__()
        stem, *stages = widths
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem
        for i, (n, c) in enumerate(zip(layers, stages)):
            blocks = [BasicBlock(cin, c, 1 if i == 0 else 2)] + [BasicBlock(c, c, 1) for _ in range(1, n)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
            cin = c
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def features(self, x):
        out = [x]
        y = self.relu(self.bn1(self.conv1(x)))
        out.append(y)
        y = self.maxpool(y)
        for i in range(4):
            y = getattr(self, "layer%d" % (i + 1))(y)
            out.append(y)
        return out


# ---- torchvision DenseNet-121 (names as torchvision.models.densenet) ----
class DenseLayer(nn.Module):
    def __init__(self, c, g):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(c, 4 * g, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * g)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(4 * g, g, 3, padding=1, bias=False)

    def forward(self, feats):
        x = torch.cat(feats, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    def __init__(self, c, n, g):
        super().__init__({"denselayer%d" % (i + 1): DenseLayer(c + i * g, g) for i in range(n)})

    def forward(self, x):
        feats = [x]
        for layer in self.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class DenseNet(nn.Module):
    def __init__(self, growth, init, blocks=(6, 12, 24, 16), classes=1000):
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(3, init, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init))
        f.add_module("relu0", nn.ReLU())
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = init
        for i, n in enumerate(blocks):
            f.add_module("denseblock%d" % (i + 1), DenseBlock(c, n, growth))
            c += n * growth
            if i < 3:
                t = nn.Sequential()
                t.add_module("norm", nn.BatchNorm2d(c))
                t.add_module("relu", nn.ReLU())
                t.add_module("conv", nn.Conv2d(c, c // 2, 1, bias=False))
                t.add_module("pool", nn.AvgPool2d(2, 2))
                f.add_module("transition%d" % (i + 1), t)
                c //= 2
        f.add_module("norm5", nn.BatchNorm2d(c))
        self.features = f
        self.classifier = nn.Linear(c, classes)

    def smp_features(self, x):
        f = self.features
        out = [x]
        y = f.relu0(f.norm0(f.conv0(x)))
        out.append(y)
        y = f.pool0(y)
        for i in range(4):
            y = getattr(f, "denseblock%d" % (i + 1))(y)
            if i < 3:
                for mod in getattr(f, "transition%d" % (i + 1)):
                    y = mod(y)
                    if isinstance(mod, nn.ReLU):
                        skip = y
                out.append(skip)
            else:
                out.append(f.norm5(y))
        return out


# ---- the ResNeSt release's 2D network (names as resnest/torch/models/{resnet,splat}.py) ----
class SplAtConv2d(nn.Module):
    def __init__(self, cin, c, radix=2, reduction=4):
        super().__init__()
        inter = max(cin * radix // reduction, 32)
        self.radix, self.c = radix, c
        self.conv = nn.Conv2d(cin, c * radix, 3, 1, 1, groups=radix, bias=False)
        self.bn0 = nn.BatchNorm2d(c * radix)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(c, inter, 1)
        self.bn1 = nn.BatchNorm2d(inter)
        self.fc2 = nn.Conv2d(inter, c * radix, 1)


class ResNeStBottleneck(nn.Module):
    def __init__(self, cin, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = SplAtConv2d(planes, planes)
        self.avd_layer = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else None
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample


class ResNeSt2d(nn.Module):
    def __init__(self, layers, base, stem_width, classes=1000):
        super().__init__()
        s = stem_width
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, s, 3, 2, 1, bias=False), nn.BatchNorm2d(s), nn.ReLU(inplace=True),
            nn.Conv2d(s, s, 3, 1, 1, bias=False), nn.BatchNorm2d(s), nn.ReLU(inplace=True),
            nn.Conv2d(s, s * 2, 3, 1, 1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(s * 2)
        cin = s * 2
        for i, n in enumerate(layers):
            planes, stride = base * 2 ** i, (1 if i == 0 else 2)
            # avg_down: AvgPool2d(kernel=stride) first, also the identity-sized one of layer1
            down = nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                                 nn.Conv2d(cin, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4))
            blocks = [ResNeStBottleneck(cin, planes, stride, down)]
            cin = planes * 4
            blocks += [ResNeStBottleneck(cin, planes, 1, None) for _ in range(1, n)]
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)


def release_to_twin(key):
    """This script's own map from the release's names to the CMC twin's (independent of covsev's)."""
    stem = {"conv1.0": "stem.0", "conv1.1": "stem.1", "conv1.3": "stem.3", "conv1.4": "stem.4", "conv1.6": "stem.6", "bn1": "stem.7"}
    head, _, leaf = key.rpartition(".")
    if key.startswith("fc."):
        return None
    if head in stem:
        return stem[head] + "." + leaf
    parts = key.split(".")
    layer, block = int(parts[0][5:]), parts[1]
    rest = parts[2:]
    if rest[0] == "downsample" and layer == 1 and block == "0":
        rest = ["downsample", str(int(rest[1]) - 1)] + rest[2:]  # the twin has no pool in layer1's shortcut
    return ".".join(["layers", str(layer - 1), block] + rest)


def main():
    a = json.load(sys.stdin)
    torch.manual_seed(a.get("seed", 0))
    kind = a["kind"]
    if kind == "resnet34":
        model = ResNet(a["widths"])
    elif kind == "densenet121":
        model = DenseNet(a["growth"], a["init"])
    elif kind == "resnest":
        model = ResNeSt2d(a["layers"], a["base"], a["stemWidth"])
    else:
        raise SystemExit("unknown kind %r" % kind)
    randomise_bn(model)
    model.eval()
    state = model.state_dict()
    save_safetensors(state, a["out"])
    if a.get("writeOnly"):  # benchmarks: the checkpoint alone
        print(json.dumps({"keys": list(state.keys())}))
        return
    with torch.no_grad():
        if kind in ("resnet34", "densenet121"):
            n, h, w = a["shape"]
            x = torch.tensor(a["x"], dtype=torch.float32).reshape(n, 3, h, w)
            feats = model.features(x) if kind == "resnet34" else model.smp_features(x)
            print(json.dumps({"features": [flat(t) for t in feats], "keys": list(state.keys())}))
            return
        import cmc_twin

        cin = a["inChannels"]
        twin = cmc_twin.ResNeSt3d(cin, tuple(a["layers"]), a["base"], a["stemWidth"])
        twin_state = twin.state_dict()
        for k, v in state.items():
            to = release_to_twin(k)
            if to is None:
                continue
            if to == "stem.0.weight":  # the mean rule, centred in the 7 x 7
                m = v.mean(1, keepdim=True).repeat(1, cin, 1, 1)
                v = F.pad(m, (2, 2, 2, 2))
            if twin_state[to].dim() == 5 and v.dim() == 4:
                v = v.unsqueeze(2)  # inflation: (out, in, kh, kw) -> (out, in, 1, kh, kw)
            assert twin_state[to].shape == v.shape, (k, to, twin_state[to].shape, v.shape)
            twin_state[to] = v
        twin.load_state_dict(twin_state, strict=True)
        twin.eval()
        b, d, h, w = a["shape"]
        x = torch.tensor(a["x"], dtype=torch.float32).reshape(b, cin, d, h, w)
        print(json.dumps({"features": flat(twin(x)), "keys": list(state.keys())}))


if __name__ == "__main__":
    main()
