/**
 * The safetensors reader: files written by this test (byte by byte where the fault is in the
 * bytes), and one written by PyTorch through a 10-line manual writer (Debian's python3 has torch
 * but no safetensors module; the test skips that case with a message without torch).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CovsevInputError } from '@covsev/io/core';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, readSafetensors, writeSafetensors } from './safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'covsev-safetensors-'));
let count = 0;
function file(bytes: Uint8Array | string): string {
  const path = join(dir, `case${count++}.safetensors`);
  writeFileSync(path, bytes);
  return path;
}

/** A file from a raw header string and data bytes. */
function raw(header: string, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const head = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

async function inputError(path: string): Promise<CovsevInputError> {
  const error = await readSafetensors(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CovsevInputError);
  const input = error as CovsevInputError;
  expect(input.path).toBe(path);
  expect(input.message).toContain(path);
  return input;
}

describe('readSafetensors', () => {
  it('reads F32, F16, BF16, F64 and I64 tensors with their shapes, offsets and metadata', async () => {
    const path = join(dir, 'all.safetensors');
    await writeSafetensors(
      path,
      [
        { name: 'conv.weight', shape: [2, 1, 1, 3], data: [1, -2.5, 3e-8, 0, 1e30, -7] },
        // F16 bit patterns: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), +inf
        { name: 'half', shape: [6], dtype: 'F16', data: Uint16Array.of(0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00) },
        // BF16 bit patterns: 1, -2, 3.140625 (0x4049), 1e-38-ish subnormal-free 2^-126 (0x0080)
        { name: 'brain', shape: [2, 2], dtype: 'BF16', data: Uint16Array.of(0x3f80, 0xc000, 0x4049, 0x0080) },
        { name: 'double', shape: [2], dtype: 'F64', data: [0.1, -1e-3] },
        { name: 'bn.num_batches_tracked', shape: [], data: BigInt64Array.of(123456789012n) },
      ],
      { format: 'pt' },
    );
    const f = await readSafetensors(path);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['conv.weight', 'F32', [2, 1, 1, 3]],
      ['half', 'F16', [6]],
      ['brain', 'BF16', [2, 2]],
      ['double', 'F64', [2]],
      ['bn.num_batches_tracked', 'I64', []],
    ]);
    const by = new Map(f.tensors.map((t) => [t.name, t]));
    const values = (name: string): number[] => [...(by.get(name)?.data ?? new Float32Array(0))].map(Number);
    expect(values('conv.weight')).toEqual([...Float32Array.of(1, -2.5, 3e-8, 0, 1e30, -7)]);
    expect(values('half')).toEqual([1, -2, 0.5, 65504, 2 ** -24, Number.POSITIVE_INFINITY]);
    expect(values('brain')).toEqual([1, -2, 3.140625, 2 ** -126]);
    expect(values('double')).toEqual([...Float32Array.of(0.1, -1e-3)]);
    expect(by.get('bn.num_batches_tracked')?.data).toEqual(BigInt64Array.of(123456789012n));
    expect(by.get('half')?.offsets).toEqual([24, 36]);
  });

  it('pads the header to a multiple of 8 and reads an empty file of tensors', async () => {
    const bytes = encodeSafetensors([]);
    expect((bytes.length - 8) % 8).toBe(0);
    const f = await readSafetensors(file(bytes));
    expect(f.tensors).toEqual([]);
  });

  it('refuses a file shorter than the header length field', async () => {
    const path = file(Uint8Array.of(1, 2, 3));
    expect((await inputError(path)).message).toMatch(/3 bytes, shorter than the 8-byte header length/);
  });

  it('refuses a header length past the end of the file, or absurdly large', async () => {
    const short = file(raw('{}', new Uint8Array(0), 4096n));
    expect((await inputError(short)).message).toMatch(/header length 4096 runs past the end of the 10-byte file/);
    const huge = file(raw('{}', new Uint8Array(0), 1n << 40n));
    expect((await inputError(huge)).message).toMatch(/header length 1099511627776 is out of range/);
  });

  it('refuses a header that is not JSON, or not an object', async () => {
    expect((await inputError(file(raw('{"a": [1, 2')))).message).toMatch(/the header is not JSON/);
    expect((await inputError(file(raw('[1, 2, 3]')))).message).toMatch(/the header is not a JSON object/);
  });

  it('refuses a truncated data section, naming the tensor', async () => {
    const bytes = encodeSafetensors([
      { name: 'a', shape: [4], data: [1, 2, 3, 4] },
      { name: 'layer1.0.conv1.weight', shape: [2, 2], data: [1, 2, 3, 4] },
    ]);
    const path = file(bytes.subarray(0, bytes.length - 5));
    expect((await inputError(path)).message).toMatch(
      /tensor 'layer1.0.conv1.weight': data_offsets \[16, 32\] run past the end of the data \(27 bytes; truncated file\?\)/,
    );
  });

  it('refuses offsets that disagree with the shape, are reversed, or overlap another tensor', async () => {
    const data = new Uint8Array(32);
    const sized = file(raw('{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}', data));
    expect((await inputError(sized)).message).toMatch(/tensor 'w': data_offsets \[0, 16\] hold 16 bytes, but F32 \[3\] needs 12/);
    const reversed = file(raw('{"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}', data));
    expect((await inputError(reversed)).message).toMatch(/tensor 'w': data_offsets \[8,4\] is not \[begin, end\]/);
    const overlap = file(
      raw(
        '{"big": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]}, "small": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}, "late": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}',
        data,
      ),
    );
    expect((await inputError(overlap)).message).toMatch(/tensor 'small': data_offsets \[4,8\] overlap those of 'big' \[0,24\]/);
  });

  it('refuses an unknown dtype and a bad shape, naming the tensor', async () => {
    const data = new Uint8Array(8);
    const dtype = file(raw('{"features.conv0.weight": {"dtype": "I8", "shape": [8], "data_offsets": [0, 8]}}', data));
    expect((await inputError(dtype)).message).toMatch(
      /tensor 'features.conv0.weight': dtype "I8" is not supported \(covsev reads F32, F16, BF16, F64, I64\)/,
    );
    const shape = file(raw('{"x": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 8]}}', data));
    expect((await inputError(shape)).message).toMatch(/tensor 'x': shape \[2,-1\] is not a list of non-negative integers/);
  });

  it('names the file when it cannot be read', async () => {
    const path = join(dir, 'absent.safetensors');
    expect((await inputError(path)).message).toMatch(/cannot read the weights file/);
  });
});

const PYTHON = '/usr/bin/python3';
const HAVE_TORCH = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

/** The manual writer documented in the engine README, fed F32, F16, BF16 and I64 tensors. */
const TORCH_WRITER = `
import json, struct, sys, torch
def save_safetensors(state, path):
    names = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}
    header, blobs, at = {}, [], 0
    for k, t in state.items():
        b = t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[k] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [at, at + len(b)]}
        blobs.append(b); at += len(b)
    h = json.dumps(header).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h))); f.write(h); f.write(b''.join(blobs))
torch.manual_seed(0)
w = torch.randn(3, 2, 3, 3)
state = {'conv.weight': w, 'conv.weight_half': w.half(), 'conv.weight_bf16': w.bfloat16(),
         'bn.num_batches_tracked': torch.tensor(7)}
save_safetensors(state, sys.argv[1])
print(json.dumps({k: t.float().reshape(-1).tolist() for k, t in state.items()}))
`;

describe.skipIf(!HAVE_TORCH)(
  HAVE_TORCH
    ? 'readSafetensors on a file PyTorch wrote'
    : `readSafetensors on a file PyTorch wrote (SKIPPED: ${PYTHON} cannot import torch)`,
  () => {
    it('reads every tensor exactly as torch converts it to float32', async () => {
      const path = join(dir, 'torch.safetensors');
      const run = spawnSync(PYTHON, ['-c', TORCH_WRITER, path], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const expected = JSON.parse(run.stdout) as Record<string, number[]>;
      const f = await readSafetensors(path);
      expect(f.tensors.map((t) => [t.name, t.dtype])).toEqual([
        ['conv.weight', 'F32'],
        ['conv.weight_half', 'F16'],
        ['conv.weight_bf16', 'BF16'],
        ['bn.num_batches_tracked', 'I64'],
      ]);
      for (const t of f.tensors) {
        const got = t.data instanceof BigInt64Array ? [...t.data].map(Number) : [...t.data];
        expect([t.name, got]).toEqual([t.name, expected[t.name]]);
      }
      expect(f.tensors[0]?.shape).toEqual([3, 2, 3, 3]);
    });
  },
);
