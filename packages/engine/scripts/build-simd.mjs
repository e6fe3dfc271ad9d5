#!/usr/bin/env node
// Compiles assembly/simd.ts (AssemblyScript) to wasm/covsev-simd.wasm: covsev's SIMD kernels,
// which run on the tfjs wasm backend's own heap (src/kernels/simd.ts loads them). Part of
// `pnpm build`. Fails when the module would write memory of its own (a data segment) or import
// anything but the heap, since it shares that heap with tfjs.
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = fileURLToPath(new URL('../', import.meta.url));
const source = `${root}assembly/simd.ts`;
const out = `${root}wasm/covsev-simd.wasm`;
await mkdir(`${root}wasm`, { recursive: true });
const { error, stderr } = await asc.main(
  [
    source,
    '--outFile',
    out,
    '-O3',
    '--enable',
    'simd',
    '--importMemory',
    '--noExportMemory',
    '--runtime',
    'stub',
    '--use',
    'abort=',
  ],
  {},
);
if (error) {
  console.error(`build-simd: AssemblyScript failed on ${source}:\n${stderr.toString()}`);
  process.exit(1);
}

const bytes = await readFile(out);
const module = new WebAssembly.Module(bytes);
const imports = WebAssembly.Module.imports(module);
if (imports.length !== 1 || imports[0].module !== 'env' || imports[0].name !== 'memory' || imports[0].kind !== 'memory') {
  console.error(`build-simd: ${out} must import only env.memory, imports ${JSON.stringify(imports)}`);
  process.exit(1);
}
// Section ids in order: a data section (11) would initialise memory that belongs to tfjs.
for (let at = 8; at < bytes.length; ) {
  const id = bytes[at++];
  let size = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[at++];
    size |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  if (id === 11) {
    console.error(`build-simd: ${out} has a data segment; covsev's SIMD kernels must not write memory of their own`);
    process.exit(1);
  }
  at += size;
}
const names = WebAssembly.Module.exports(module).map((e) => e.name);
console.log(`build-simd: wasm/covsev-simd.wasm (${bytes.length} bytes): ${names.join(', ')}`);
