// covsev's SIMD kernels, in AssemblyScript (compiled by scripts/build-simd.mjs to wasm/covsev-simd.wasm).
//
// The module imports the tfjs wasm backend's own memory (env.memory), so every pointer below is an
// address on that heap (a tensor's buffer, `typedArrayFromHeap(t).byteOffset`) and nothing is
// copied. It has no data segment, no allocator and no globals in memory: it never writes outside
// the buffers it is given. Matrices are [rows, ch] row-major (a channels-last tensor seen as
// [M, C]); per-channel vectors are [ch]. Four channels at a time in f32x4 lanes, the last
// ch % 4 one at a time.

// y[r, c] = (x[r, c] - m[c]) * a[c] + b[c]   (batch norm with a = gamma / sqrt(var + eps), b = beta;
// subtracting the mean first keeps the precision that folding it into b would lose when the mean
// is large against the spread)
export function normalizeRows(x: usize, m: usize, a: usize, b: usize, y: usize, rows: i32, ch: i32): void {
  const c4 = ch & ~3;
  const rowBytes = (<usize>ch) << 2;
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      const d = f32x4.sub(v128.load(x + o), v128.load(m + o));
      v128.store(y + o, f32x4.add(f32x4.mul(d, v128.load(a + o)), v128.load(b + o)));
    }
    for (; j < ch; j++) {
      const o = (<usize>j) << 2;
      store<f32>(y + o, (load<f32>(x + o) - load<f32>(m + o)) * load<f32>(a + o) + load<f32>(b + o));
    }
    x += rowBytes;
    y += rowBytes;
  }
}

// z[r, c] = g[r, c] * a[c] + (x[r, c] - m[c]) * b[c] + d[c]   (the batch-norm input gradient)
export function normalizeGradRows(
  g: usize,
  a: usize,
  x: usize,
  m: usize,
  b: usize,
  d: usize,
  z: usize,
  rows: i32,
  ch: i32,
): void {
  const c4 = ch & ~3;
  const rowBytes = (<usize>ch) << 2;
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      const ga = f32x4.mul(v128.load(g + o), v128.load(a + o));
      const xb = f32x4.mul(f32x4.sub(v128.load(x + o), v128.load(m + o)), v128.load(b + o));
      v128.store(z + o, f32x4.add(f32x4.add(ga, xb), v128.load(d + o)));
    }
    for (; j < ch; j++) {
      const o = (<usize>j) << 2;
      const xb = (load<f32>(x + o) - load<f32>(m + o)) * load<f32>(b + o);
      store<f32>(z + o, load<f32>(g + o) * load<f32>(a + o) + xb + load<f32>(d + o));
    }
    g += rowBytes;
    x += rowBytes;
    z += rowBytes;
  }
}

// The two per-channel sums below accumulate in f64 (two f64x2 lanes per f32x4 of input), as
// PyTorch's CPU batch norm does: with f32 sums, a rounding difference of 1e-6 in the mean can flip
// a later ReLU or max-pool decision and move a gradient by percents on small batches.

// out[c] += sum_r (x[r, c] - s[c]);  out[ch + c] += sum_r (x[r, c] - s[c])^2   (out: f64 [2 ch]).
// With s a sample of each channel (its first row), this is the shifted-data form of the mean and
// variance: one pass, and no cancellation when the channel's mean is large against its spread.
// The differences are exact in f64.
export function columnMoments(x: usize, s: usize, rows: i32, ch: i32, out: usize): void {
  const c4 = ch & ~3;
  const rowBytes = (<usize>ch) << 2;
  const q = out + (rowBytes << 1);
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      const v = v128.load(x + o);
      const sv = v128.load(s + o);
      const lo = f64x2.sub(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(sv));
      const hi = f64x2.sub(
        f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)),
        f64x2.promote_low_f32x4(v128.shuffle<f32>(sv, sv, 2, 3, 2, 3)),
      );
      const o8 = o << 1;
      v128.store(out + o8, f64x2.add(v128.load(out + o8), lo));
      v128.store(out + o8 + 16, f64x2.add(v128.load(out + o8 + 16), hi));
      v128.store(q + o8, f64x2.add(v128.load(q + o8), f64x2.mul(lo, lo)));
      v128.store(q + o8 + 16, f64x2.add(v128.load(q + o8 + 16), f64x2.mul(hi, hi)));
    }
    for (; j < ch; j++) {
      const o = (<usize>j) << 2;
      const d = <f64>load<f32>(x + o) - <f64>load<f32>(s + o);
      store<f64>(out + (o << 1), load<f64>(out + (o << 1)) + d);
      store<f64>(q + (o << 1), load<f64>(q + (o << 1)) + d * d);
    }
    x += rowBytes;
  }
}

// out[c] += sum_r g[r, c];  out[ch + c] += sum_r g[r, c] * (x[r, c] - m[c])   (out: f64 [2 ch]).
// (The batch-norm gradient's dBeta and dGamma / invStd.)
export function columnGradMoments(g: usize, x: usize, m: usize, rows: i32, ch: i32, out: usize): void {
  const c4 = ch & ~3;
  const rowBytes = (<usize>ch) << 2;
  const q = out + (rowBytes << 1);
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      const gv = v128.load(g + o);
      const xv = v128.load(x + o);
      const mv = v128.load(m + o);
      const glo = f64x2.promote_low_f32x4(gv);
      const ghi = f64x2.promote_low_f32x4(v128.shuffle<f32>(gv, gv, 2, 3, 2, 3));
      const dlo = f64x2.sub(f64x2.promote_low_f32x4(xv), f64x2.promote_low_f32x4(mv));
      const dhi = f64x2.sub(
        f64x2.promote_low_f32x4(v128.shuffle<f32>(xv, xv, 2, 3, 2, 3)),
        f64x2.promote_low_f32x4(v128.shuffle<f32>(mv, mv, 2, 3, 2, 3)),
      );
      const o8 = o << 1;
      v128.store(out + o8, f64x2.add(v128.load(out + o8), glo));
      v128.store(out + o8 + 16, f64x2.add(v128.load(out + o8 + 16), ghi));
      v128.store(q + o8, f64x2.add(v128.load(q + o8), f64x2.mul(glo, dlo)));
      v128.store(q + o8 + 16, f64x2.add(v128.load(q + o8 + 16), f64x2.mul(ghi, dhi)));
    }
    for (; j < ch; j++) {
      const o = (<usize>j) << 2;
      const gv = <f64>load<f32>(g + o);
      store<f64>(out + (o << 1), load<f64>(out + (o << 1)) + gv);
      store<f64>(q + (o << 1), load<f64>(q + (o << 1)) + gv * (<f64>load<f32>(x + o) - <f64>load<f32>(m + o)));
    }
    g += rowBytes;
    x += rowBytes;
  }
}

// Pooling gradients over NHWC [batch, h, w, ch] inputs and [batch, oh, ow, ch] outputs, windows of
// fh x fw taps with strides sh, sw, starting top / left pixels before the input (padding).

// dx = the average pool's gradient: each window's dy * scale added to the window's pixels inside
// the input (scale = 1 / (fh * fw): the padding counted, tfjs' AvgPoolGrad). dx is overwritten.
export function avgPoolGrad(
  dy: usize,
  dx: usize,
  batch: i32,
  h: i32,
  w: i32,
  ch: i32,
  oh: i32,
  ow: i32,
  fh: i32,
  fw: i32,
  sh: i32,
  sw: i32,
  top: i32,
  left: i32,
  scale: f32,
): void {
  const c4 = ch & ~3;
  const pixelBytes = (<usize>ch) << 2;
  memory.fill(dx, 0, <usize>batch * <usize>h * <usize>w * pixelBytes);
  const s4 = f32x4.splat(scale);
  for (let b = 0; b < batch; b++) {
    for (let yr = 0; yr < oh; yr++) {
      const r0 = yr * sh - top;
      const rLo = max(0, r0);
      const rHi = min(h, r0 + fh);
      for (let yc = 0; yc < ow; yc++) {
        const q0 = yc * sw - left;
        const qLo = max(0, q0);
        const qHi = min(w, q0 + fw);
        const g = dy + <usize>((b * oh + yr) * ow + yc) * pixelBytes;
        for (let xr = rLo; xr < rHi; xr++) {
          for (let xc = qLo; xc < qHi; xc++) {
            const d = dx + <usize>((b * h + xr) * w + xc) * pixelBytes;
            let j = 0;
            for (; j < c4; j += 4) {
              const o = (<usize>j) << 2;
              v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(v128.load(g + o), s4)));
            }
            for (; j < ch; j++) {
              const o = (<usize>j) << 2;
              store<f32>(d + o, load<f32>(d + o) + load<f32>(g + o) * scale);
            }
          }
        }
      }
    }
  }
}

// dx = the max pool's gradient: each window's dy added at the window's first strict maximum
// (row-major tap order; tfjs cpu's rule), per channel; a window of only -Infinity / NaN passes
// nothing. scratch: f32 [ch] then i32 [ch]. dx is overwritten.
export function maxPoolGrad(
  x: usize,
  dy: usize,
  dx: usize,
  batch: i32,
  h: i32,
  w: i32,
  ch: i32,
  oh: i32,
  ow: i32,
  fh: i32,
  fw: i32,
  sh: i32,
  sw: i32,
  top: i32,
  left: i32,
  scratch: usize,
): void {
  const c4 = ch & ~3;
  const pixelBytes = (<usize>ch) << 2;
  memory.fill(dx, 0, <usize>batch * <usize>h * <usize>w * pixelBytes);
  const best = scratch;
  const at = scratch + pixelBytes;
  const lanes = i32x4(0, 1, 2, 3);
  for (let b = 0; b < batch; b++) {
    for (let yr = 0; yr < oh; yr++) {
      const r0 = yr * sh - top;
      const rLo = max(0, r0);
      const rHi = min(h, r0 + fh);
      for (let yc = 0; yc < ow; yc++) {
        const q0 = yc * sw - left;
        const qLo = max(0, q0);
        const qHi = min(w, q0 + fw);
        for (let j = 0; j < ch; j++) {
          store<f32>(best + ((<usize>j) << 2), -Infinity);
          store<i32>(at + ((<usize>j) << 2), -1);
        }
        for (let xr = rLo; xr < rHi; xr++) {
          for (let xc = qLo; xc < qHi; xc++) {
            const pixel = (b * h + xr) * w + xc;
            const p = x + <usize>pixel * pixelBytes;
            let j = 0;
            for (; j < c4; j += 4) {
              const o = (<usize>j) << 2;
              const v = v128.load(p + o);
              const old = v128.load(best + o);
              const more = f32x4.gt(v, old);
              v128.store(best + o, v128.bitselect(v, old, more));
              const index = i32x4.add(i32x4.splat(pixel * ch + j), lanes);
              v128.store(at + o, v128.bitselect(index, v128.load(at + o), more));
            }
            for (; j < ch; j++) {
              const o = (<usize>j) << 2;
              const v = load<f32>(p + o);
              if (v > load<f32>(best + o)) {
                store<f32>(best + o, v);
                store<i32>(at + o, pixel * ch + j);
              }
            }
          }
        }
        const g = dy + <usize>((b * oh + yr) * ow + yc) * pixelBytes;
        for (let j = 0; j < ch; j++) {
          const i = load<i32>(at + ((<usize>j) << 2));
          if (i >= 0) {
            const d = dx + ((<usize>i) << 2);
            store<f32>(d, load<f32>(d) + load<f32>(g + ((<usize>j) << 2)));
          }
        }
      }
    }
  }
}

// dx[i] = y[i] > 0 ? dy[i] : 0, over n values: the ReLU gradient from its output y = max(x, 0)
// (PyTorch's threshold_backward on the result), one pass instead of tfjs' step, cast and multiply.
export function reluGrad(dy: usize, y: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(dx + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

// Copies `rows` runs of `bytes` bytes from src (rows `srcStride` bytes apart) to dst (rows
// `dstStride` apart): a tensor's slice along an axis, or its place in a concatenation.
export function copyRows(src: usize, srcStride: usize, dst: usize, dstStride: usize, rows: i32, bytes: usize): void {
  const b16 = bytes & ~(<usize>15);
  for (let r = 0; r < rows; r++) {
    let o: usize = 0;
    for (; o < b16; o += 16) v128.store(dst + o, v128.load(src + o));
    for (; o + 4 <= bytes; o += 4) store<u32>(dst + o, load<u32>(src + o));
    for (; o < bytes; o++) store<u8>(dst + o, load<u8>(src + o));
    src += srcStride;
    dst += dstStride;
  }
}

// One Adam step over n values (PyTorch's torch.optim.Adam with L2 decay), in the operation order
// of the tfjs composite it replaces, so that both round alike:
//   g' = g + p * wd;  m' = m * b1 + g' * (1 - b1);  v' = v * b2 + g' * g' * (1 - b2);
//   p' = p + (m' * -step) / (sqrt(v') / c2 + eps),  step = lr / (1 - b1^t), c2 = sqrt(1 - b2^t).
// Writes p', m', v' to their own buffers. wd = 0 adds nothing (not p * 0).
export function adamUpdate(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  pOut: usize,
  mOut: usize,
  vOut: usize,
  n: i32,
  wd: f32,
  b1: f32,
  oneMinusB1: f32,
  b2: f32,
  oneMinusB2: f32,
  negStep: f32,
  c2: f32,
  eps: f32,
): void {
  const n4 = n & ~3;
  const decay = wd !== 0;
  const wd4 = f32x4.splat(wd);
  const b14 = f32x4.splat(b1);
  const a14 = f32x4.splat(oneMinusB1);
  const b24 = f32x4.splat(b2);
  const a24 = f32x4.splat(oneMinusB2);
  const s4 = f32x4.splat(negStep);
  const c24 = f32x4.splat(c2);
  const e4 = f32x4.splat(eps);
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    const pv = v128.load(p + o);
    let gv = v128.load(g + o);
    if (decay) gv = f32x4.add(gv, f32x4.mul(pv, wd4));
    const mv = f32x4.add(f32x4.mul(v128.load(m + o), b14), f32x4.mul(gv, a14));
    const vv = f32x4.add(f32x4.mul(v128.load(v + o), b24), f32x4.mul(f32x4.mul(gv, gv), a24));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), c24), e4);
    v128.store(pOut + o, f32x4.add(pv, f32x4.div(f32x4.mul(mv, s4), denom)));
    v128.store(mOut + o, mv);
    v128.store(vOut + o, vv);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const pv = load<f32>(p + o);
    let gv = load<f32>(g + o);
    if (decay) gv = gv + pv * wd;
    const mv = load<f32>(m + o) * b1 + gv * oneMinusB1;
    const vv = load<f32>(v + o) * b2 + gv * gv * oneMinusB2;
    const denom = sqrt<f32>(vv) / c2 + eps;
    store<f32>(pOut + o, pv + (mv * negStep) / denom);
    store<f32>(mOut + o, mv);
    store<f32>(vOut + o, vv);
  }
}

// One SGD step over n values (PyTorch's torch.optim.SGD), in the operation order of the tfjs
// composite it replaces:
//   d = g + p * wd;  with momentum: buf = first ? d : buf * mu + d * (1 - dampening),
//   d = nesterov ? d + buf * mu : buf;  p' = p + d * -lr.
// Writes p' and (with momentum, mu != 0) buf' to their own buffers. wd = 0 adds nothing.
export function sgdUpdate(
  p: usize,
  g: usize,
  buf: usize,
  pOut: usize,
  bufOut: usize,
  n: i32,
  wd: f32,
  mu: f32,
  oneMinusDampening: f32,
  negLr: f32,
  first: bool,
  nesterov: bool,
): void {
  const n4 = n & ~3;
  const decay = wd !== 0;
  const momentum = mu !== 0;
  const wd4 = f32x4.splat(wd);
  const mu4 = f32x4.splat(mu);
  const a4 = f32x4.splat(oneMinusDampening);
  const lr4 = f32x4.splat(negLr);
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    const pv = v128.load(p + o);
    let d = v128.load(g + o);
    if (decay) d = f32x4.add(d, f32x4.mul(pv, wd4));
    if (momentum) {
      const b = first ? d : f32x4.add(f32x4.mul(v128.load(buf + o), mu4), f32x4.mul(d, a4));
      v128.store(bufOut + o, b);
      d = nesterov ? f32x4.add(d, f32x4.mul(b, mu4)) : b;
    }
    v128.store(pOut + o, f32x4.add(pv, f32x4.mul(d, lr4)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const pv = load<f32>(p + o);
    let d = load<f32>(g + o);
    if (decay) d = d + pv * wd;
    if (momentum) {
      const b = first ? d : load<f32>(buf + o) * mu + d * oneMinusDampening;
      store<f32>(bufOut + o, b);
      d = nesterov ? d + b * mu : b;
    }
    store<f32>(pOut + o, pv + d * negLr);
  }
}
