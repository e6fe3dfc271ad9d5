import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '@covsev/cli';
import { EventLog } from '@covsev/events';
import { CovsevInputError, type LabelRow, type PredictionRow, writeLabelCsv, writePredictionCsv } from '@covsev/io';
import { describe, expect, it } from 'vitest';
import { main, modelNames } from './eval.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function row(name: string, category: 1 | 2 | 3 | 4): PredictionRow {
  const probabilities = [0.1, 0.1, 0.1, 0.1] as [number, number, number, number];
  probabilities[category - 1] = 0.7;
  return { name, category, probabilities };
}

const LABELS: LabelRow[] = [
  { name: 'ct_scan_1', category: 1 },
  { name: 'ct_scan_2', category: 1 },
  { name: 'ct_scan_3', category: 2 },
  { name: 'ct_scan_4', category: 3 },
  { name: 'ct_scan_5', category: 3 },
  { name: 'ct_scan_6', category: 4 },
];
const PLAIN = [
  row('ct_scan_1', 1),
  row('ct_scan_2', 2),
  row('ct_scan_3', 2),
  row('ct_scan_4', 3),
  row('ct_scan_5', 3),
  row('ct_scan_6', 3),
];
const INFECTION = LABELS.map((l) => row(l.name, l.category));

/** A folder with labels, two prediction tables and a small training run. */
async function fixture(): Promise<{ dir: string; labels: string; plain: string; infection: string; run: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'covsev-eval-'));
  const labels = join(dir, 'val_labels.csv');
  const plain = join(dir, 'plain.csv');
  const infection = join(dir, 'infection.csv');
  await writeLabelCsv(labels, LABELS);
  await writePredictionCsv(plain, PLAIN);
  await writePredictionCsv(infection, INFECTION);
  const run = join(dir, 'runs', 'cmc');
  const log = EventLog.open(join(run, 'events.jsonl'));
  for (let epoch = 0; epoch < 3; epoch++) {
    for (let step = 0; step < 4; step++) {
      const g = epoch * 4 + step + 1;
      log.emit({ type: 'step', epoch, step, globalStep: g, losses: { total: 3 / g, classification: 1 / g }, lr: 1e-3, ms: 5 });
    }
    log.emit({
      type: 'epoch',
      epoch,
      metrics: { loss: 1 / (epoch + 1), valLoss: 1.2 / (epoch + 1), valMacroF1: 0.3 * epoch },
      lr: 1e-3,
      ms: 20,
      eta: 0,
    });
  }
  log.close();
  return { dir, labels, plain, infection, run };
}

function capture(): { lines: string[]; print: (line: string) => void } {
  const lines: string[] = [];
  return { lines, print: (line) => lines.push(line) };
}

describe('pnpm eval', () => {
  it('prints Table 3 and the confusion matrices, and writes the PNGs', async () => {
    const f = await fixture();
    const out = join(f.dir, 'report');
    const printed = capture();
    const warned = capture();
    const argv = ['--', '--labels', f.labels, '--predictions', `${f.plain},${f.infection}`, '--names', 'plain,infection'];
    expect(await main([...argv, '--run', f.run, '--out', out], printed.print, warned.print)).toBe(0);
    expect(warned.lines).toEqual([]);
    const text = printed.lines.join('\n');
    expect(text).toMatch(/\| ID +\| Model +\| +Mild \| Moderate \| +Severe \| Critical \| Macro F1 \|/);
    expect(text).toMatch(
      /\| 1 +\| plain +\| +66\.67 \| +66\.67 \| +80\.00 \| +0\.00 \| +53\.33 \| +\[[\d.]+, [\d.]+\] \| +0\.8125 \| +6 \|/,
    );
    expect(text).toMatch(/\| 2 +\| infection +\| +100\.00 \| +100\.00 \| +100\.00 \| +100\.00 \| +100\.00 \|/);
    expect(text).toContain(`plain (${f.plain}, 6 scans): confusion matrix, rows = truth, columns = prediction`);
    expect(text).toContain('| Critical           |    0 |        0 |      1 |        0 |     1 |');
    const pngs = ['confusion-infection.png', 'confusion-plain.png', 'training-curves.png'];
    expect((await readdir(out)).sort()).toEqual(pngs);
    for (const png of pngs) {
      const bytes = await readFile(join(out, png));
      expect(bytes.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(bytes.length).toBeGreaterThan(5000);
      expect(text).toContain(`wrote ${join(out, png)}`);
    }
  });

  it('defaults the names to the file names and --out to <table folder>/eval', async () => {
    const f = await fixture();
    const printed = capture();
    expect(await main(['--labels', f.labels, '--predictions', f.plain], printed.print)).toBe(0);
    expect(await readdir(join(f.dir, 'eval'))).toEqual(['confusion-plain.png']);
    expect(modelNames(['a/val.csv', 'b/val.csv'], undefined)).toEqual(['a-val', 'b-val']);
    expect(modelNames(['x/a b.csv'], undefined)).toEqual(['a-b']);
  });

  it('scores a subset with --subset, and refuses it without, naming the file and the scan', async () => {
    const f = await fixture();
    const partial = join(f.dir, 'partial.csv');
    await writePredictionCsv(partial, PLAIN.slice(0, 5));
    const quiet = () => undefined;
    const run = (...extra: string[]) => main(['--labels', f.labels, '--predictions', partial, ...extra], quiet, quiet);
    await expect(run()).rejects.toThrow(CovsevInputError);
    await expect(run()).rejects.toThrow(`${partial}: 1 labelled scan of ${f.labels} missing from the table: ct_scan_6`);
    const warned = capture();
    expect(await main(['--labels', f.labels, '--predictions', partial, '--subset'], quiet, warned.print)).toBe(0);
    expect(warned.lines).toEqual([`eval: partial: 1 labelled scans of ${f.labels} are not in ${partial} (--subset: left out)`]);
    const extra = join(f.dir, 'extra.csv');
    await writePredictionCsv(extra, [...INFECTION, row('ct_scan_77', 2)]);
    await expect(main(['--labels', f.labels, '--predictions', extra, '--subset'], quiet)).rejects.toThrow(
      `${extra}: 1 scan with no label in ${f.labels}: ct_scan_77`,
    );
  });

  it('names the file at fault for a missing table, a bad CSV, bad labels and a missing run', async () => {
    const f = await fixture();
    const quiet = () => undefined;
    const missing = join(f.dir, 'missing.csv');
    await expect(main(['--labels', f.labels, '--predictions', `${f.plain},${missing}`], quiet)).rejects.toThrow(
      `${missing}: cannot read prediction table`,
    );
    const bad = join(f.dir, 'bad.csv');
    await writeFile(bad, 'name,category,p_mild,p_moderate,p_severe,p_critical\nct_scan_1,1,0.5,0.5,0.5,0.5\n');
    await expect(main(['--labels', f.labels, '--predictions', bad], quiet)).rejects.toThrow(`${bad}:2: probabilities sum to 2`);
    const badLabels = join(f.dir, 'labels.csv');
    await writeFile(badLabels, 'Name,Category\nct_scan_1,1\n');
    await expect(main(['--labels', badLabels, '--predictions', f.plain], quiet)).rejects.toThrow(
      `${badLabels}:1: label file needs the header "Name;Category"`,
    );
    const noRun = join(f.dir, 'no-run');
    await expect(main(['--labels', f.labels, '--predictions', f.plain, '--run', noRun], quiet)).rejects.toThrow(
      `${noRun}: no such run folder or events file`,
    );
    await expect(main(['--labels', f.labels, '--predictions', f.plain, '--out', f.labels], quiet)).rejects.toThrow(
      `${f.labels}: --out is a file, not a folder`,
    );
    // Nothing was written by the failed runs.
    expect(existsSync(join(f.dir, 'eval'))).toBe(false);
  });

  it('refuses usage mistakes naming the option', async () => {
    const f = await fixture();
    const quiet = () => undefined;
    await expect(main(['--predictions', f.plain], quiet)).rejects.toThrow(UsageError);
    await expect(main(['--predictions', f.plain], quiet)).rejects.toThrow(/--labels/);
    await expect(main(['--labels', f.labels, '--predictions', f.plain, '--names', 'a,b'], quiet)).rejects.toThrow(
      '--names gives 2 names for 1 prediction tables',
    );
    await expect(main(['--labels', f.labels, '--predictions', f.plain, '--names', '../x'], quiet)).rejects.toThrow(
      /--names: "\.\.\/x" is not a plain name/,
    );
    await expect(main(['--labels', f.labels, '--predictions', `${f.plain},${f.plain}`], quiet)).rejects.toThrow(/twice/);
    await expect(main(['--labels', f.labels, '--predictions', `${f.plain},`], quiet)).rejects.toThrow(/empty items/);
    await expect(main(['--labels', f.labels, '--predictions', f.plain, '--seed', '-1'], quiet)).rejects.toThrow(/--seed/);
  });
});

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const distCli = join(repoRoot, 'apps', 'eval', 'dist', 'cli.js');

describe('pnpm eval: the built command line', () => {
  it.skipIf(!existsSync(distCli))(
    'exits 0 with the table, 2 naming the file on bad input, 0 with the usage on --help',
    async () => {
      const f = await fixture();
      const ok = spawnSync(process.execPath, [distCli, '--labels', f.labels, '--predictions', f.plain, '--run', f.run], {
        encoding: 'utf8',
      });
      expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
      expect(ok.stdout).toMatch(/\| 1 +\| plain +\|/);
      expect(ok.stdout).toContain(`wrote ${join(f.dir, 'eval', 'training-curves.png')}`);
      const missing = join(f.dir, 'nope.csv');
      const bad = spawnSync(process.execPath, [distCli, '--labels', f.labels, '--predictions', missing], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(
        new RegExp(`^pnpm eval: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read prediction table`),
      );
      const help = spawnSync(process.execPath, [distCli, '--help'], { encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/^usage: pnpm eval -- --labels LABELS\.csv --predictions/);
    },
  );
  if (!existsSync(distCli)) {
    it.skip(`needs ${distCli}: run \`pnpm --filter @covsev/eval-cli... build\` first`, () => undefined);
  }
});
