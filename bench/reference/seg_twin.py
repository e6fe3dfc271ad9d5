"""PyTorch twin of covsev's stage-1 segmentation networks (packages/segment): the reference for
`pnpm bench:seg` and for the parity fixtures in packages/segment/fixtures/.

Run with Debian's python3 (python3-torch 1.13), not the pyenv python3 first on PATH:
  /usr/bin/python3 bench/reference/seg_twin.py train --arch unetplusplus --sizes 128,256 --batch 8
  /usr/bin/python3 bench/reference/seg_twin.py infer --arch deeplabv3 --sizes 256 --batch 8
Prints one JSON line per measurement (per size): ms per SGD training step (train) or slices per
second (infer), in the style of bench/reference/cmc_twin.py.

The networks are plain torch (no segmentation_models_pytorch, no torchvision) re-implementations
of segmentation_models_pytorch (smp) v0.3.3, with its state-dict names and computations, so a
state dict of smp's `Unet` / `UnetPlusPlus` / `FPN` / `DeepLabV3` with a `resnet34` encoder loads here
(and in covsev) by name. What was followed, file by file (smp v0.3.3):

- encoders/resnet.py `ResNetEncoder`: torchvision's ResNet-34 (BasicBlock, layers [3, 4, 6, 3])
  with `fc` and `avgpool` deleted; names conv1, bn1, layer1.0.conv1, ..., layerK.0.downsample.0/1.
  Features [x, relu(bn1(conv1 x)), layer1(maxpool .), layer2, layer3, layer4]. Initialisation as
  torchvision: convs kaiming-normal (fan_out, relu), batch norm 1 / 0. `in_channels` != 3: smp
  patches conv1 (random weights without pretraining); here conv1 simply has in_channels inputs.
- encoders/_base.py `make_dilated` + _utils.py `replace_strides_with_dilation`: output stride 8
  (DeepLabV3) gives every Conv2d of layer3 stride 1 and dilation 2, of layer4 stride 1 and
  dilation 4, padding (k // 2) * dilation (3 x 3: = dilation; the 1 x 1 downsample convs: 0).
  Every conv of those stages is dilated, not only the first block's (unlike torchvision's own
  replace_stride_with_dilation). The downsample branches exist as built with the original strides.
- encoders/densenet.py `DenseNetEncoder`: torchvision's DenseNet-121 (growth 32, bn_size 4,
  blocks (6, 12, 24, 16), 64 initial features) without its classifier; names features.conv0,
  features.norm0, features.denseblockK.denselayerJ.{norm1,conv1,norm2,conv2},
  features.transitionK.{norm,conv}, features.norm5. Features [x, relu0(norm0(conv0 x)), then for
  blocks 1-3 the transition's input after its norm and ReLU (`TransitionWithSkip`; the next stage
  continues from the transition's pooled output), norm5(denseblock4) without a ReLU]. smp refuses
  dilation for DenseNets; covsev (packages/segment/src/encoders/densenet.ts) chose, for DeepLabV3:
  output stride 16 drops transition3's pool and dilates denseblock4's 3x3 convs by 2; output
  stride 8 also drops transition2's pool and dilates denseblock3 by 2 and denseblock4 by 4. The
  twin does the same. Width: initial features and growth are scaled, the bottleneck is 4 x growth
  and a transition halves its input (floor).
- base/modules.py `Conv2dReLU` (conv without bias, BatchNorm2d, ReLU: names .0, .1);
  base/heads.py `SegmentationHead` (Sequential(conv k with bias, UpsamplingBilinear2d(upsampling)
  or Identity, Identity): names segmentation_head.0.*; UpsamplingBilinear2d uses
  align_corners=True); base/initialization.py (decoder convs kaiming-uniform fan_in relu, bias 0;
  head xavier-uniform, bias 0).
- decoders/unetplusplus/decoder.py `UnetPlusPlusDecoder` (no center block for ResNets, no
  attention): blocks decoder.blocks.x_{depth}_{layer}.conv{1,2}.{0,1}; nearest x2 upsampling.
- decoders/unet/decoder.py `UnetDecoder`: decoder.blocks.{i}.conv{1,2}.{0,1}.
- decoders/deeplabv3/decoder.py `DeepLabV3Decoder` (v0.3.3's, without smp 0.4's separable
  option): decoder.0 = ASPP (convs.0: 1x1 conv/bn/relu; convs.1-3: 3x3 conv dilation 12, 24, 36;
  convs.4: AdaptiveAvgPool2d(1), 1x1 conv, bn, relu, bilinear back (align_corners=False);
  project: 1x1 conv over the 5 maps, bn, relu, Dropout(0.5)), decoder.1 3x3 conv, decoder.2 bn,
  decoder.3 relu; model: head kernel 1, upsampling 8.
- decoders/fpn/decoder.py `FPNDecoder` (merge 'add'): decoder.p5 (1x1 conv with bias),
  decoder.p{4,3,2}.skip_conv (nearest x2 of the coarser level + 1x1 conv of the encoder map),
  decoder.seg_blocks.{i}.block.{j}.block.{0 conv, 1 GroupNorm} (3, 2, 1, 0 Conv3x3GNReLU, each
  but the last level's followed by a bilinear x2 with align_corners=True), sum, Dropout2d(0.2);
  model: pyramid 256, segmentation 128 channels, head kernel 1 with bilinear x4 upsampling.
  smp's GroupNorm(32, C) needs 32 | C, which the width multiplier breaks: here, as in covsev
  (packages/segment/src/models/fpn/decoder.ts, `groupNormGroups`), min(32, C / 4) groups (32 at
  smp's sizes).
- Model defaults: decoder_channels (256, 128, 64, 32, 16) for the U-Nets, 256 for DeepLabV3; the
  head has kernel 3 for the U-Nets.

covsev's width multiplier (packages/segment/src/models/contract.ts): every channel count above
(encoder stem and stages 64/64/128/256/512, decoder channels, DeepLabV3's 256) is scaled by
`width` and rounded to a multiple of 4, at least 4 (`scaled_channels`, JavaScript's Math.round).
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RESNET34_LAYERS = (3, 4, 6, 3)
UNET_DECODER_CHANNELS = (256, 128, 64, 32, 16)
DEEPLABV3_CHANNELS = 256
FPN_PYRAMID_CHANNELS = 256
FPN_SEGMENTATION_CHANNELS = 128
ATROUS_RATES = (12, 24, 36)


def scaled_channels(base, width):
    """A channel count times the width multiplier, rounded to a multiple of 4 (at least 4), as
    `scaledChannels` in packages/segment/src/models/common.ts (Math.round: halves go up)."""
    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width}")
    return max(4, int(math.floor(base * width / 4 + 0.5)) * 4)


# --- encoder: torchvision ResNet-34 as smp's ResNetEncoder ----------------------------------


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def replace_strides_with_dilation(module, dilation):
    """smp 0.3.3 encoders/_utils.py: every Conv2d of the stage gets stride 1 and this dilation."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.stride = (1, 1)
            m.dilation = (dilation, dilation)
            kh, kw = m.kernel_size
            m.padding = ((kh // 2) * dilation, (kw // 2) * dilation)


class ResNetEncoder(nn.Module):
    def __init__(self, in_channels=1, width=1.0, layers=RESNET34_LAYERS, output_stride=32):
        super().__init__()
        stem = scaled_channels(64, width)
        self.conv1 = nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.inplanes = stem
        planes = [scaled_channels(64 * 2**i, width) for i in range(4)]
        self.layer1 = self._make_layer(planes[0], layers[0], 1)
        self.layer2 = self._make_layer(planes[1], layers[1], 2)
        self.layer3 = self._make_layer(planes[2], layers[2], 2)
        self.layer4 = self._make_layer(planes[3], layers[3], 2)
        self.out_channels = [in_channels, stem, *planes]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        self.output_stride = output_stride
        if output_stride == 16:
            replace_strides_with_dilation(self.layer4, 2)
        elif output_stride == 8:
            replace_strides_with_dilation(self.layer3, 2)
            replace_strides_with_dilation(self.layer4, 4)
        elif output_stride != 32:
            raise ValueError(f"output stride must be 8, 16 or 32, got {output_stride}")

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        out = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        out += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward(self, x):
        f1 = self.relu(self.bn1(self.conv1(x)))
        f2 = self.layer1(self.maxpool(f1))
        f3 = self.layer2(f2)
        f4 = self.layer3(f3)
        f5 = self.layer4(f4)
        return [x, f1, f2, f3, f4, f5]


# --- encoder: torchvision DenseNet-121 as smp's DenseNetEncoder ---------------------------

DENSENET121_BLOCKS = (6, 12, 24, 16)


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bottleneck, dilation):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bottleneck, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bottleneck, growth, 3, padding=dilation, dilation=dilation, bias=False)

    def forward(self, x):
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseBlock(nn.ModuleDict):
    def __init__(self, cin, count, growth, dilation):
        super().__init__({f"denselayer{i + 1}": DenseLayer(cin + i * growth, growth, 4 * growth, dilation) for i in range(count)})

    def forward(self, x):
        for layer in self.values():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class Transition(nn.Sequential):
    def __init__(self, cin, pooled):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(cin))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(cin, cin // 2, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2) if pooled else nn.Identity())

    def forward_with_skip(self, x):
        skip = self.relu(self.norm(x))
        return skip, self.pool(self.conv(skip))


class DenseNetEncoder(nn.Module):
    def __init__(self, in_channels=1, width=1.0, blocks=DENSENET121_BLOCKS, output_stride=32):
        super().__init__()
        init, growth = scaled_channels(64, width), scaled_channels(32, width)
        dilations = {32: (1, 1, 1, 1), 16: (1, 1, 1, 2), 8: (1, 1, 2, 4)}.get(output_stride)
        if dilations is None:
            raise ValueError(f"output stride must be 8, 16 or 32, got {output_stride}")
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(in_channels, init, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init))
        f.add_module("relu0", nn.ReLU(inplace=True))
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        channels, out_channels = init, [in_channels, init]
        for i, count in enumerate(blocks):
            f.add_module(f"denseblock{i + 1}", DenseBlock(channels, count, growth, dilations[i]))
            channels += count * growth
            out_channels.append(channels)
            if i < 3:
                f.add_module(f"transition{i + 1}", Transition(channels, pooled=dilations[i + 1] == 1))
                channels //= 2
        f.add_module("norm5", nn.BatchNorm2d(channels))
        self.features = f
        self.out_channels = out_channels
        self.output_stride = output_stride
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        f = self.features
        out = [x, f.relu0(f.norm0(f.conv0(x)))]
        y = f.pool0(out[1])
        for i in range(4):
            y = getattr(f, f"denseblock{i + 1}")(y)
            if i < 3:
                skip, y = getattr(f, f"transition{i + 1}").forward_with_skip(y)
                out.append(skip)
            else:
                out.append(f.norm5(y))
        return out


# --- shared pieces: base/modules.py, base/heads.py ------------------------------------------


class Conv2dReLU(nn.Sequential):
    def __init__(self, cin, cout, kernel=3):
        super().__init__(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SegmentationHead(nn.Sequential):
    def __init__(self, cin, classes, kernel=3, upsampling=1):
        up = nn.UpsamplingBilinear2d(scale_factor=upsampling) if upsampling > 1 else nn.Identity()
        super().__init__(nn.Conv2d(cin, classes, kernel, padding=kernel // 2), up, nn.Identity())


class DecoderBlock(nn.Module):
    """Nearest x2, concatenate the skip (if any), two Conv2dReLU (U-Net and U-Net++ alike)."""

    def __init__(self, cin, skip, cout):
        super().__init__()
        self.conv1 = Conv2dReLU(cin + skip, cout)
        self.conv2 = Conv2dReLU(cout, cout)

    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


# --- decoders --------------------------------------------------------------------------------


class UnetDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels):
        super().__init__()
        enc = list(encoder_channels[1:])[::-1]
        in_ch = [enc[0]] + list(decoder_channels[:-1])
        skip_ch = enc[1:] + [0]
        self.center = nn.Identity()
        self.blocks = nn.ModuleList([DecoderBlock(i, s, o) for i, s, o in zip(in_ch, skip_ch, decoder_channels)])

    def forward(self, *features):
        features = features[1:][::-1]
        x, skips = self.center(features[0]), features[1:]
        for i, block in enumerate(self.blocks):
            x = block(x, skips[i] if i < len(skips) else None)
        return x


class UnetPlusPlusDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels):
        super().__init__()
        enc = list(encoder_channels[1:])[::-1]
        self.in_channels = [enc[0]] + list(decoder_channels[:-1])
        self.skip_channels = enc[1:] + [0]
        self.out_channels = list(decoder_channels)
        self.center = nn.Identity()
        blocks = {}
        for layer in range(len(self.in_channels) - 1):
            for depth in range(layer + 1):
                if depth == 0:
                    cin = self.in_channels[layer]
                    skip = self.skip_channels[layer] * (layer + 1)
                    cout = self.out_channels[layer]
                else:
                    cout = self.skip_channels[layer]
                    skip = self.skip_channels[layer] * (layer + 1 - depth)
                    cin = self.skip_channels[layer - 1]
                blocks[f"x_{depth}_{layer}"] = DecoderBlock(cin, skip, cout)
        last = len(self.in_channels) - 1
        blocks[f"x_0_{last}"] = DecoderBlock(self.in_channels[-1], 0, self.out_channels[-1])
        self.blocks = nn.ModuleDict(blocks)
        self.depth = last

    def forward(self, *features):
        features = features[1:][::-1]
        dense = {}
        for layer in range(len(self.in_channels) - 1):
            for depth in range(self.depth - layer):
                if layer == 0:
                    dense[f"x_{depth}_{depth}"] = self.blocks[f"x_{depth}_{depth}"](features[depth], features[depth + 1])
                else:
                    li = depth + layer
                    cat = [dense[f"x_{k}_{li}"] for k in range(depth + 1, li + 1)] + [features[li + 1]]
                    dense[f"x_{depth}_{li}"] = self.blocks[f"x_{depth}_{li}"](dense[f"x_{depth}_{li - 1}"], torch.cat(cat, dim=1))
        return self.blocks[f"x_0_{self.depth}"](dense[f"x_0_{self.depth - 1}"])


class ASPPPooling(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x):
        size = x.shape[-2:]
        for m in self:
            x = m(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    def __init__(self, cin, cout, rates=ATROUS_RATES):
        super().__init__()
        convs = [nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())]
        for r in rates:
            convs.append(nn.Sequential(nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False), nn.BatchNorm2d(cout), nn.ReLU()))
        convs.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(convs)
        self.project = nn.Sequential(nn.Conv2d(5 * cout, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x):
        return self.project(torch.cat([c(x) for c in self.convs], dim=1))


class DeepLabV3Decoder(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(ASPP(cin, cout), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
        self.out_channels = cout

    def forward(self, *features):
        return super().forward(features[-1])


class Conv3x3GNReLU(nn.Module):
    def __init__(self, cin, cout, upsample=False):
        super().__init__()
        self.upsample = upsample
        groups = min(32, cout // 4)  # smp: 32 (see the file comment)
        self.block = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU(inplace=True))

    def forward(self, x):
        x = self.block(x)
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True) if self.upsample else x


class FPNBlock(nn.Module):
    def __init__(self, pyramid, skip):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip, pyramid, kernel_size=1)

    def forward(self, x, skip):
        return F.interpolate(x, scale_factor=2, mode="nearest") + self.skip_conv(skip)


class SegmentationBlock(nn.Module):
    def __init__(self, cin, cout, n_upsamples):
        super().__init__()
        blocks = [Conv3x3GNReLU(cin, cout, upsample=bool(n_upsamples))]
        blocks += [Conv3x3GNReLU(cout, cout, upsample=True) for _ in range(1, n_upsamples)]
        self.block = nn.Sequential(*blocks)

    def forward(self, x):
        return self.block(x)


class FPNDecoder(nn.Module):
    def __init__(self, encoder_channels, pyramid, segmentation, dropout=0.2):
        super().__init__()
        enc = list(encoder_channels)[::-1]
        self.out_channels = segmentation
        self.p5 = nn.Conv2d(enc[0], pyramid, kernel_size=1)
        self.p4 = FPNBlock(pyramid, enc[1])
        self.p3 = FPNBlock(pyramid, enc[2])
        self.p2 = FPNBlock(pyramid, enc[3])
        self.seg_blocks = nn.ModuleList([SegmentationBlock(pyramid, segmentation, n) for n in (3, 2, 1, 0)])
        self.dropout = nn.Dropout2d(p=dropout, inplace=True)

    def forward(self, *features):
        c2, c3, c4, c5 = features[-4:]
        p5 = self.p5(c5)
        p4 = self.p4(p5, c4)
        p3 = self.p3(p4, c3)
        p2 = self.p2(p3, c2)
        return self.dropout(sum(b(p) for b, p in zip(self.seg_blocks, (p5, p4, p3, p2))))


# --- the models ------------------------------------------------------------------------------

ARCHS = ("unet", "unetplusplus", "fpn", "deeplabv3")
ENCODERS = {"resnet34": ResNetEncoder, "densenet121": DenseNetEncoder}


class SegmentationModel(nn.Module):
    """smp's SegmentationModel: encoder -> decoder -> segmentation_head, logits [N, classes, H, W]."""

    def __init__(self, arch="unetplusplus", in_channels=1, classes=1, width=1.0, encoder="resnet34"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}")
        if encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {encoder!r}; known: {', '.join(ENCODERS)}")
        self.arch = arch
        self.encoder = ENCODERS[encoder](in_channels, width, output_stride=8 if arch == "deeplabv3" else 32)
        if arch == "deeplabv3":
            channels = scaled_channels(DEEPLABV3_CHANNELS, width)
            self.decoder = DeepLabV3Decoder(self.encoder.out_channels[-1], channels)
            self.segmentation_head = SegmentationHead(channels, classes, kernel=1, upsampling=8)
            self.size_divisor = 8
        elif arch == "fpn":
            segmentation = scaled_channels(FPN_SEGMENTATION_CHANNELS, width)
            self.decoder = FPNDecoder(self.encoder.out_channels, scaled_channels(FPN_PYRAMID_CHANNELS, width), segmentation)
            self.segmentation_head = SegmentationHead(segmentation, classes, kernel=1, upsampling=4)
            self.size_divisor = 32
        else:
            channels = [scaled_channels(c, width) for c in UNET_DECODER_CHANNELS]
            decoder = UnetDecoder if arch == "unet" else UnetPlusPlusDecoder
            self.decoder = decoder(self.encoder.out_channels, channels)
            self.segmentation_head = SegmentationHead(channels[-1], classes, kernel=3)
            self.size_divisor = 32
        # smp base/initialization.py
        for m in self.decoder.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.segmentation_head.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % self.size_divisor or w % self.size_divisor:
            raise ValueError(f"input {h} x {w} must divide by {self.size_divisor} for {self.arch}")
        return self.segmentation_head(self.decoder(*self.encoder(x)))


def dice_loss(logits, target, eps=1e-7):
    """Binary soft Dice, eq. (3) of docs/method.md with smp's choices (packages/segment/src/losses/dice.ts)."""
    p = F.logsigmoid(logits).exp()
    y = target.to(p.dtype)
    inter = (p * y).sum()
    card = (p + y).sum()
    loss = 1 - 2 * inter / (card + eps)
    return loss * (y.sum() > 0).to(loss.dtype)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["train", "infer"])
    p.add_argument("--arch", default="unetplusplus", choices=ARCHS)
    p.add_argument("--encoder", default="resnet34", choices=tuple(ENCODERS))
    p.add_argument("--sizes", default="128,256", help="square slice sizes, one measurement each")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier (covsev's `width`)")
    p.add_argument("--classes", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--momentum", type=float, default=0.9, help="0.9 as covsev's trainSegmentation")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for size in (int(s) for s in a.sizes.split(",")):
        torch.manual_seed(0)
        model = SegmentationModel(a.arch, 1, a.classes, a.width, a.encoder)
        x = torch.randn(a.batch, 1, size, size)
        times = []
        if a.mode == "train":
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
            target = (torch.rand(a.batch, a.classes, size, size) < 0.3).float()
            for i in range(a.warmup + a.steps):
                t0 = time.perf_counter()
                loss = dice_loss(model(x), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i >= a.warmup:
                    times.append(time.perf_counter() - t0)
        else:
            model.eval()
            with torch.no_grad():
                for i in range(a.warmup + a.steps):
                    t0 = time.perf_counter()
                    model(x)
                    if i >= a.warmup:
                        times.append(time.perf_counter() - t0)
        times.sort()
        median = times[len(times) // 2]
        record = {
            "tool": "pytorch", "torch": torch.__version__, "mode": a.mode, "arch": a.arch, "encoder": a.encoder,
            "size": [1, size, size], "width": a.width, "batch": a.batch, "threads": a.threads,
            "msMedian": 1000 * median, "msMin": 1000 * times[0],
            "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params": sum(q.numel() for q in model.parameters()),
        }
        if a.mode == "train":
            record.update({"optimizer": "sgd", "lr": a.lr, "momentum": a.momentum, "loss": "dice"})
        else:
            record["slicesPerSecond"] = a.batch / median
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
