import { describe, expect, it } from 'vitest';
import { deriveSeed, fillNormal, normalTable, PhantomRng } from './rng.js';

describe('Rng', () => {
  it('gives the same numbers for the same seed, other numbers for another', () => {
    const a = new PhantomRng(42);
    const b = new PhantomRng(42);
    const c = new PhantomRng(43);
    const xs = Array.from({ length: 8 }, () => a.uint32());
    expect(Array.from({ length: 8 }, () => b.uint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.uint32())).not.toEqual(xs);
  });

  it('pins the stream (a change here changes every phantom byte)', () => {
    const r = new PhantomRng(1);
    expect([r.uint32(), r.uint32(), r.uint32()]).toEqual([2508009645, 663037862, 910731745]);
    expect(deriveSeed(1, 'scan', 0)).toBe(973638635);
  });

  it('forks depend on the label and the seed, not on draws made before', () => {
    const a = new PhantomRng(5);
    const b = new PhantomRng(5);
    b.next();
    b.normal();
    expect(a.fork('x').uint32()).toBe(b.fork('x').uint32());
    expect(a.fork('x').uint32()).not.toBe(a.fork('y').uint32());
  });

  it('draws uniform, integer and normal values in range with the right moments', () => {
    const r = new PhantomRng(9);
    let sum = 0;
    let sum2 = 0;
    const n = 20000;
    let lo = Infinity;
    let hi = -Infinity;
    const ints = new Set<number>();
    for (let i = 0; i < n; i++) {
      const u = r.uniform(-2, 3);
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      ints.add(r.int(1, 4));
      const z = r.normal(10, 2);
      sum += z;
      sum2 += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(-2);
    expect(lo).toBeLessThan(-1.99);
    expect(hi).toBeLessThan(3);
    expect([...ints].sort()).toEqual([1, 2, 3, 4]);
    const mean = sum / n;
    expect(mean).toBeCloseTo(10, 1);
    expect(Math.sqrt(sum2 / n - mean * mean)).toBeCloseTo(2, 1);
  });

  it('fills normal noise from a table deterministically', () => {
    const table = normalTable(new PhantomRng(3));
    const a = new Float32Array(101);
    const b = new Float32Array(101);
    fillNormal(new PhantomRng(4), table, a);
    fillNormal(new PhantomRng(4), table, b);
    expect(a).toEqual(b);
    expect(a.some((x) => x !== 0)).toBe(true);
  });

  it('refuses bad seeds and ranges', () => {
    expect(() => new PhantomRng(-1)).toThrow(/seed/);
    expect(() => new PhantomRng(1.5)).toThrow(/seed/);
    expect(() => new PhantomRng(1).int(3, 2)).toThrow(/low <= high/);
  });
});
