// The per-kernel table of a tf.profile() result, shared by the profiling scripts
// (bench/engine/profile-train.mjs, bench/seg/profile-seg.mjs).

/** Prints `header` with the kernels' summed time, then kernel | ms | % | calls (top 20); `calls`: the 15 slowest single calls. */
export function printKernelProfile(prof, header, { calls = false } = {}) {
  const byKernel = new Map();
  let total = 0;
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    byKernel.set(k.name, e);
    total += ms;
  }
  console.log(`\n${header}; profiled kernels sum to ${total.toFixed(0)} ms over ${prof.kernels.length} kernel calls`);
  console.log('kernel | ms | % of kernel time | calls');
  for (const [name, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20))
    console.log(`${name} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / total).toFixed(1)} | ${e.calls}`);
  if (!calls) return;
  console.log('\nslowest calls: kernel | ms | input shapes -> output shapes');
  const slowest = prof.kernels.filter((k) => typeof k.kernelTimeMs === 'number').sort((a, b) => b.kernelTimeMs - a.kernelTimeMs);
  for (const k of slowest.slice(0, 15))
    console.log(
      `${k.name} | ${k.kernelTimeMs.toFixed(1)} | ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`,
    );
}
