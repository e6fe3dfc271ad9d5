import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from './npy.js';

describe('.npy', () => {
  it.each([
    ['uint8', Uint8Array.from([0, 1, 255, 7, 8, 9])],
    ['int16', Int16Array.from([-1024, 0, 3071, 1, 2, 3])],
    ['float32', Float32Array.from([0.5, -1.25, 3e-8, 1, 2, 3])],
    ['float64', Float64Array.from([Math.PI, 2, 3, 4, 5, 6])],
  ])('round-trips %s with a 64-byte aligned header', (_name, data) => {
    const bytes = encodeNpy(data, [1, 2, 3]);
    const headerLength = Buffer.from(bytes).readUInt16LE(8);
    expect((10 + headerLength) % 64).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([1, 2, 3]);
    expect(back.data.constructor).toBe(data.constructor);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  it('refuses bad magic and truncated data, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-npy-'));
    const path = join(dir, 'a.npy');
    await writeNpy(path, Int16Array.from([1, 2, 3, 4]), [2, 2]);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 2));
    await expect(readNpy(path)).rejects.toThrow(/a\.npy: truncated \.npy/);
    await writeFile(path, 'hello world');
    await expect(readNpy(path)).rejects.toThrow(/a\.npy: not a \.npy file/);
  });
});

const hasNumpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
describe.skipIf(!hasNumpy)('.npy agrees with NumPy (Debian python3)', () => {
  it('numpy.load reads what covsev writes, and covsev reads what numpy.save writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-npy-'));
    const ours = join(dir, 'ours.npy');
    const data = Int16Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 37 - 400);
    await writeNpy(ours, data, [2, 3, 4]);
    const theirs = join(dir, 'theirs.npy');
    const script = `import numpy as np,sys\na=np.load(sys.argv[1])\nassert a.shape==(2,3,4) and a.dtype==np.int16, (a.shape,a.dtype)\nprint(int(a[1,2,3]), int(a.sum()))\nnp.save(sys.argv[2], (np.arange(24,dtype=np.float32).reshape(2,3,4)/8))`;
    const result = spawnSync('/usr/bin/python3', ['-c', script, ours, theirs], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    const [last, sum] = result.stdout.trim().split(' ').map(Number);
    expect(last).toBe(data[23]);
    expect(sum).toBe(data.reduce((s, v) => s + v, 0));
    const back = await readNpy(theirs);
    expect(back.shape).toEqual([2, 3, 4]);
    expect(back.data[23]).toBeCloseTo(23 / 8, 7);
  });
});

describe('.npy: damaged headers', () => {
  const good = () => Buffer.from(encodeNpy(Uint8Array.from([1, 2, 3, 4, 5, 6]), [2, 3]));
  it('refuses a file cut inside its header, an unknown version and a garbage shape, naming the file', () => {
    expect(() => decodeNpy(good().subarray(0, 40), 'x.npy')).toThrow(/^x\.npy: truncated \.npy header/);
    const v3 = good();
    v3[6] = 3;
    expect(() => decodeNpy(v3, 'x.npy')).toThrow(/^x\.npy: \.npy version 3\.0 is not supported/);
    const shape = Buffer.from(good().toString('latin1').replace("'shape': (2, 3)", "'shape': (2, z)"), 'latin1');
    expect(() => decodeNpy(shape, 'x.npy')).toThrow(/^x\.npy: unreadable \.npy shape \(2, z\)/);
    const negative = Buffer.from(good().toString('latin1').replace("'shape': (2, 3)", "'shape': (-2, 3)"), 'latin1');
    expect(() => decodeNpy(negative, 'x.npy')).toThrow(/^x\.npy: unreadable \.npy shape/);
  });
});
