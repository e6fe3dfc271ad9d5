#!/usr/bin/env node
/**
 * pack-check: are covsev's packages usable outside this monorepo?
 *
 * For @covsev/io, @covsev/eval, @covsev/cmc, @covsev/segment, @covsev/phantom, @covsev/ensemble and @covsev/report, and every workspace package
 * they depend on (transitively), it:
 *   1. runs `pnpm pack` into a temp folder (pnpm rewrites `workspace:*` to real versions; a
 *      `"private": true` package still packs, only publishing is refused);
 *   2. checks each tarball: package.json without `workspace:` ranges, README.md and the files its
 *      `exports` / `main` / `types` name;
 *   3. makes a project outside the workspace (under the OS temp folder) and installs all the
 *      tarballs there with npm, from the registry npm is configured with;
 *   4. imports each package by name there, then runs every ```js block marked
 *      `<!-- pack-check -->` in the packed READMEs with node.
 * It builds nothing: run `pnpm build` first. Exit status 1, with the reason, if anything fails.
 *
 * Install flags: `--ignore-scripts`. The optional @tensorflow/tfjs-node(-gpu) download
 * libtensorflow in their install scripts and onnxruntime-node's fetches the CUDA provider; all
 * three must not run (covsev's engine uses the tfjs-node packages only where their addon loads,
 * and onnxruntime-node ships its CPU binaries in the package). `--omit=optional` is not an
 * alternative: sharp and @napi-rs/image bring their native binaries as optional
 * platform packages, which it would drop. Override with PACK_CHECK_NPM_FLAGS (space-separated).
 *
 * Usage: node scripts/pack-check.mjs [--keep] [--only @covsev/io,...]
 *   --keep   leave the temp folder in place (its path is printed)
 *   --only   check only these packages (and what they depend on)
 * Node built-ins only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_ROOTS = [
  '@covsev/io',
  '@covsev/eval',
  '@covsev/cmc',
  '@covsev/segment',
  '@covsev/phantom',
  '@covsev/ensemble',
  '@covsev/report',
];
const WORKSPACE_DIRS = ['packages', 'apps'];
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const EXAMPLE_TIMEOUT_MS = 120_000;
const PACK_TIMEOUT_MS = 120_000;

class CheckError extends Error {}

const { values: args } = parseArgs({
  options: { keep: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const roots = args.only ? args.only.split(',').map((s) => s.trim()) : DEFAULT_ROOTS;
const npmFlags = process.env.PACK_CHECK_NPM_FLAGS?.trim()
  ? process.env.PACK_CHECK_NPM_FLAGS.trim().split(/\s+/)
  : ['--ignore-scripts'];

const started = Date.now();
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const log = (line) => console.log(`pack-check: ${line}`);

/** Runs a command; throws a CheckError with its output's tail when it fails or times out. */
function run(command, argv, { cwd, timeout, what }) {
  const t0 = Date.now();
  const r = spawnSync(command, argv, {
    cwd,
    timeout,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  const tail = output.split('\n').slice(-25).join('\n');
  if (r.error?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && Date.now() - t0 >= timeout))
    throw new CheckError(`${what}: timed out after ${seconds(timeout)}\n${tail}`);
  if (r.error) throw new CheckError(`${what}: cannot run ${command}: ${r.error.message}`);
  if (r.status !== 0) throw new CheckError(`${what}: exit status ${r.status ?? r.signal}\n${tail}`);
  return { output, ms: Date.now() - t0 };
}

/** Workspace packages by name: { dir, manifest }. */
function workspacePackages() {
  const found = new Map();
  for (const group of WORKSPACE_DIRS) {
    const base = join(ROOT, group);
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const file = join(base, name, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8'));
      if (manifest.name) found.set(manifest.name, { dir: join(base, name), manifest });
    }
  }
  return found;
}

/** The workspace packages `names` depend on (`workspace:` ranges), transitively, names first. */
function closure(names, workspace) {
  const order = [];
  const visit = (name, from) => {
    if (order.includes(name)) return;
    if (!workspace.has(name))
      throw new CheckError(`${name}${from ? ` (a dependency of ${from})` : ''} is not a workspace package`);
    order.push(name);
    const m = workspace.get(name).manifest;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const [dep, range] of Object.entries(m[field] ?? {})) {
        if (String(range).startsWith('workspace:')) visit(dep, name);
      }
    }
  };
  for (const name of names) visit(name);
  return order;
}

/** The files of a .tgz as a Map path -> Buffer (ustar, as npm and pnpm write it). */
function readTarball(file) {
  const tar = gunzipSync(readFileSync(file));
  const files = new Map();
  let offset = 0;
  let longName;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start, length) =>
      header
        .subarray(start, start + length)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    const body = tar.subarray(offset + 512, offset + 512 + size);
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '') {
      name = name.replace(/^[^/]+\//, ''); // drop the leading "package/"
      files.set(name, body);
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Files a manifest says must exist: exports targets, main, types. */
function declaredFiles(manifest) {
  const out = new Set();
  const walk = (v) => {
    if (typeof v === 'string') out.add(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(manifest.exports);
  for (const f of [manifest.main, manifest.types]) if (f) out.add(f.replace(/^\.\//, ''));
  return [...out].filter((f) => !f.includes('*'));
}

/** The ```js blocks right after a `<!-- pack-check -->` comment. */
function packCheckBlocks(readme) {
  const blocks = [];
  const re = /<!--\s*pack-check\s*-->[ \t]*\r?\n(?:[ \t]*\r?\n)*```(?:js|javascript|mjs)[ \t]*\r?\n([\s\S]*?)\r?\n```/g;
  for (const m of readme.matchAll(re)) blocks.push(m[1]);
  return blocks;
}

/** Warns where a package's dist looks older than its sources (the check builds nothing). */
function staleDist(dir) {
  const entry = join(dir, 'dist', 'index.js');
  if (!existsSync(entry)) return 'no dist/index.js';
  const built = statSync(entry).mtimeMs;
  const newer = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) && statSync(p).mtimeMs > built) newer.push(p);
    }
  };
  if (existsSync(join(dir, 'src'))) walk(join(dir, 'src'));
  return newer.length > 0 ? `${newer.length} source file(s) newer than dist (e.g. ${relative(ROOT, newer[0])})` : null;
}

const results = new Map(); // name -> { version, size, files, import, examples: [{ ok, ms }] }
let tempRoot;
let failure;

try {
  const workspace = workspacePackages();
  const names = closure(roots, workspace);
  log(`packages: ${names.join(', ')}`);

  for (const name of names) {
    const { dir } = workspace.get(name);
    const stale = staleDist(dir);
    if (stale === 'no dist/index.js')
      throw new CheckError(`${name}: ${relative(ROOT, dir)}/dist/index.js is missing: run \`pnpm build\` first`);
    if (stale) log(`warning: ${name}: ${stale}; \`pnpm build\` to check what the sources say`);
  }

  tempRoot = mkdtempSync(join(tmpdir(), 'covsev-pack-check-'));
  const tarDir = join(tempRoot, 'tarballs');
  const project = join(tempRoot, 'project');
  mkdirSync(tarDir);
  mkdirSync(project);

  // 1-2. Pack and inspect.
  const tarballs = [];
  for (const name of names) {
    const { dir, manifest } = workspace.get(name);
    const before = new Set(readdirSync(tarDir));
    run('pnpm', ['pack', '--pack-destination', tarDir], { cwd: dir, timeout: PACK_TIMEOUT_MS, what: `${name}: pnpm pack` });
    const made = readdirSync(tarDir).filter((f) => !before.has(f) && f.endsWith('.tgz'));
    if (made.length !== 1) throw new CheckError(`${name}: pnpm pack made ${made.length} tarballs in ${tarDir}`);
    const tarball = join(tarDir, made[0]);
    const files = readTarball(tarball);
    const packed = JSON.parse(files.get('package.json')?.toString('utf8') ?? 'null');
    if (!packed) throw new CheckError(`${name}: ${made[0]} has no package.json`);
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const [dep, range] of Object.entries(packed[field] ?? {})) {
        if (String(range).startsWith('workspace:'))
          throw new CheckError(`${name}: packed package.json still has ${dep}@${range}`);
      }
    }
    const missing = ['README.md', ...declaredFiles(manifest)].filter((f) => !files.has(f));
    if (missing.length > 0) throw new CheckError(`${name}: ${made[0]} lacks ${missing.join(', ')}`);
    const size = statSync(tarball).size;
    const readme = files.get('README.md').toString('utf8');
    results.set(name, { version: packed.version, size, fileCount: files.size, readme, examples: [] });
    tarballs.push(tarball);
  }
  log(`packed ${tarballs.length} tarballs (${seconds(Date.now() - started)})`);

  // 3. Install them in a project outside the workspace.
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'covsev-pack-check', version: '0.0.0', private: true, type: 'module' }, null, 2)}\n`,
  );
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...npmFlags, ...tarballs], {
    cwd: project,
    timeout: INSTALL_TIMEOUT_MS,
    what: `npm install ${npmFlags.join(' ')} <${tarballs.length} tarballs> in ${project}`,
  });
  log(`npm install ${npmFlags.join(' ')}: ${seconds(install.ms)}`);

  // 4. Import each package by name, then run the README examples.
  for (const name of names) {
    const r = results.get(name);
    const file = join(project, `import-${name.replace(/[@/]/g, '_')}.mjs`);
    writeFileSync(file, `const m = await import(${JSON.stringify(name)});\nconsole.log(Object.keys(m).length);\n`);
    const imported = run('node', [file], { cwd: project, timeout: EXAMPLE_TIMEOUT_MS, what: `${name}: import by name` });
    r.exports = Number(imported.output.split('\n').at(-1));

    const blocks = packCheckBlocks(r.readme);
    if (blocks.length === 0 && roots.includes(name))
      throw new CheckError(
        `${name}: its README has no \`<!-- pack-check -->\` example (a \`\`\`js block right below the comment)`,
      );
    for (const [i, code] of blocks.entries()) {
      const example = join(project, `example-${name.replace(/[@/]/g, '_')}-${i + 1}.mjs`);
      writeFileSync(example, code);
      const what = `${name}: README example ${i + 1} (${example})`;
      const ran = run('node', [example], { cwd: project, timeout: EXAMPLE_TIMEOUT_MS, what });
      r.examples.push({ ms: ran.ms, lastLine: ran.output.split('\n').at(-1) });
    }
  }
} catch (error) {
  failure = error;
}

// Summary: one line per package.
for (const [name, r] of results) {
  const reached = r.exports !== undefined || !failure;
  const examples = !reached
    ? 'not checked (stopped earlier)'
    : r.examples.length === 0
      ? 'no README example'
      : r.examples.map((e, i) => `example ${i + 1} ok in ${seconds(e.ms)}`).join(', ');
  const imported = r.exports === undefined ? 'not imported' : `import ok (${r.exports} exports)`;
  console.log(`  ${name}@${r.version}  ${(r.size / 1024).toFixed(0)} kB, ${r.fileCount} files  ${imported}  ${examples}`);
}
if (tempRoot) {
  if (args.keep || failure) log(`temp folder kept: ${tempRoot}`);
  else rmSync(tempRoot, { recursive: true, force: true });
}
if (failure) {
  const message = failure instanceof CheckError ? failure.message : (failure?.stack ?? String(failure));
  console.error(`pack-check: FAILED after ${seconds(Date.now() - started)}: ${message}`);
  process.exit(1);
}
log(`all ${results.size} packages install and run outside the workspace (${seconds(Date.now() - started)})`);
