/**
 * The DenseNet-121 encoder against PyTorch (docs/method.md, "Segmentation"): a torch module
 * written here after torchvision's DenseNet (`_DenseLayer`, `_DenseBlock`, `_Transition`, names
 * `conv0`, `denseblockK.denselayerJ.{norm1,conv1,norm2,conv2}`, `transitionK.{norm,conv}`, `norm5`)
 * with segmentation_models_pytorch v0.3.3's stages (TransitionWithSkip), loaded by name into
 * covsev's encoder; every feature map must agree, at output stride 32 and at covsev's dilated
 * output stride 8. The bench twin (bench/reference/seg_twin.py) has no DenseNet, hence this live
 * check. Skips with a message where Debian's python3 has no torch.
 */
import { spawnSync } from 'node:child_process';
import { disposeModule, initBackend, loadTorchStateDict } from '@covsev/engine';
import { Rng } from '@covsev/io';
import { beforeAll, describe, expect, it } from 'vitest';
import { DENSENET121_BLOCKS, DenseNetEncoder } from './densenet.js';
import { expectFeaturesMatch } from './featureParity.test-helpers.js';

const PYTHON = '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const SUITE = HAVE_TORCH
  ? 'DenseNet-121 encoder against PyTorch'
  : `DenseNet-121 encoder against PyTorch (SKIPPED: ${PYTHON} cannot import torch)`;

/** torchvision's DenseNet layers, smp 0.3.3's stages; covsev's dilation choice for OS 16 / 8. */
const TORCH_SCRIPT = `
import json, sys, torch, torch.nn as nn
a = json.load(sys.stdin)
torch.manual_seed(a['seed'])
g, init, blocks, cin = a['growth'], a['init'], a['blocks'], a['inChannels']
dil = {32: [1, 1, 1, 1], 16: [1, 1, 1, 2], 8: [1, 1, 2, 4]}[a['outputStride']]
class DenseLayer(nn.Module):
    def __init__(s, c, d):
        super().__init__()
        s.norm1 = nn.BatchNorm2d(c); s.relu1 = nn.ReLU(); s.conv1 = nn.Conv2d(c, 4 * g, 1, bias=False)
        s.norm2 = nn.BatchNorm2d(4 * g); s.relu2 = nn.ReLU()
        s.conv2 = nn.Conv2d(4 * g, g, 3, padding=d, dilation=d, bias=False)
    def forward(s, feats):
        x = torch.cat(feats, 1)
        return s.conv2(s.relu2(s.norm2(s.conv1(s.relu1(s.norm1(x))))))
class DenseBlock(nn.ModuleDict):
    def __init__(s, c, n, d):
        super().__init__({'denselayer%d' % (i + 1): DenseLayer(c + i * g, d) for i in range(n)})
    def forward(s, x):
        feats = [x]
        for layer in s.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)
def transition(c, pooled):
    t = nn.Sequential()
    t.add_module('norm', nn.BatchNorm2d(c)); t.add_module('relu', nn.ReLU())
    t.add_module('conv', nn.Conv2d(c, c // 2, 1, bias=False))
    t.add_module('pool', nn.AvgPool2d(2, 2) if pooled else nn.Identity())
    return t
f = nn.Sequential()
f.add_module('conv0', nn.Conv2d(cin, init, 7, 2, 3, bias=False))
f.add_module('norm0', nn.BatchNorm2d(init)); f.add_module('relu0', nn.ReLU())
f.add_module('pool0', nn.MaxPool2d(3, 2, 1))
c = init
for i, n in enumerate(blocks):
    f.add_module('denseblock%d' % (i + 1), DenseBlock(c, n, dil[i])); c += n * g
    if i < 3:
        f.add_module('transition%d' % (i + 1), transition(c, dil[i + 1] == 1)); c //= 2
f.add_module('norm5', nn.BatchNorm2d(c))
for m in f.modules():
    if isinstance(m, nn.BatchNorm2d):
        with torch.no_grad():
            m.weight.uniform_(0.5, 1.5); m.bias.normal_(0, 0.2)
            m.running_mean.normal_(0, 0.2); m.running_var.uniform_(0.5, 1.5)
f.eval()
n, h, w = a['shape']
x = torch.tensor(a['x'], dtype=torch.float32).reshape(n, cin, h, w)
out = [x]
with torch.no_grad():
    y = f.relu0(f.norm0(f.conv0(x))); out.append(y); y = f.pool0(y)
    for i in range(4):
        y = getattr(f, 'denseblock%d' % (i + 1))(y)
        if i < 3:
            for mod in getattr(f, 'transition%d' % (i + 1)):  # smp's TransitionWithSkip
                y = mod(y)
                if isinstance(mod, nn.ReLU):
                    skip = y
            out.append(skip)
        else:
            out.append(f.norm5(y))
state = {'features.' + k: v.reshape(-1).tolist() for k, v in f.state_dict().items()}
print(json.dumps({'state': state, 'features': [{'shape': list(t.shape), 'data': t.reshape(-1).tolist()} for t in out]}))
`;

interface TorchResult {
  state: Record<string, number[]>;
  features: { shape: [number, number, number, number]; data: number[] }[];
}

beforeAll(async () => {
  await initBackend({ prefer: 'wasm', log: false });
});

describe.skipIf(!HAVE_TORCH)(SUITE, () => {
  for (const outputStride of [32, 8] as const) {
    it(`width 1/16 (growth 4), output stride ${outputStride}: torch's state dict loads by name and all six feature maps agree`, () => {
      const [n, cin, h, w] = [2, 2, 64, 64];
      const x = Float32Array.from({ length: n * h * w * cin }, (_, i) => Math.sin(0.37 * i) * Math.cos(0.011 * i));
      const run = spawnSync(PYTHON, ['-c', TORCH_SCRIPT], {
        input: JSON.stringify({
          seed: outputStride,
          growth: 4,
          init: 4,
          blocks: DENSENET121_BLOCKS,
          inChannels: cin,
          outputStride,
          shape: [n, h, w],
          x: [...x],
        }),
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      expect(run.status, run.stderr).toBe(0);
      const ref = JSON.parse(run.stdout) as TorchResult;
      const encoder = new DenseNetEncoder({
        inChannels: cin,
        width: 1 / 16,
        blocks: DENSENET121_BLOCKS,
        outputStride,
        rng: Rng.fromSeed(1),
      });
      loadTorchStateDict(encoder, new Map(Object.entries(ref.state)));
      expect(ref.features).toHaveLength(6);
      expectFeaturesMatch(encoder, x, [n, cin, h, w], ref.features);
      disposeModule(encoder);
    });
  }
});
