import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { describe, expect, it } from 'vitest';
import { confusionMatrixSpec, writeConfusionMatrixPng } from './confusionPng.js';
import { darkPixels, decodePng, distinctColours } from './png.test-helpers.js';
import { renderChartSvg } from './render.js';

const MATRIX = [
  [10, 2, 0, 0],
  [3, 5, 2, 0],
  [0, 1, 12, 4],
  [0, 0, 1, 3],
];

describe('writeConfusionMatrixPng', () => {
  it('writes a PNG heatmap, atomically, whose title is drawn with the bundled font', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    const titled = join(dir, 'sub', 'confusion-plain.png');
    const untitled = join(dir, 'untitled.png');
    const written = await writeConfusionMatrixPng(titled, MATRIX, { title: 'Confusion matrix: plain CMC' });
    await writeConfusionMatrixPng(untitled, MATRIX, { title: '' });
    expect((await readdir(join(dir, 'sub'))).sort()).toEqual(['confusion-plain.png']); // no temp file left
    const a = await decodePng(titled);
    const b = await decodePng(untitled);
    expect([a.width, a.height]).toEqual([written.width, written.height]);
    expect(a.width).toBeGreaterThan(400);
    expect(a.height).toBeGreaterThan(400);
    // Non-uniform: white background, a blue scale, black and white text.
    expect(distinctColours(a)).toBeGreaterThan(20);
    // The title takes a band at the top; the same chart without it is that much shorter.
    const band = a.height - b.height;
    expect(band).toBeGreaterThan(15);
    expect(a.width).toBe(b.width);
    // Only the title is drawn in that band: dark pixels there are its glyphs.
    expect(darkPixels(a, 0, band)).toBeGreaterThan(200);
    // Below the band the two images are the same chart (up to sub-pixel shifts of the layout).
    const below = a.data.subarray(band * a.width * 3);
    let same = 0;
    for (let i = 0; i < b.data.length; i++) if (below[i] === b.data[i]) same++;
    expect(same / b.data.length).toBeGreaterThan(0.9);
  });

  it('draws no text without a font: the title check above can fail', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'covsev-report-'));
    const spec = confusionMatrixSpec(MATRIX, { title: 'Confusion matrix: plain CMC' });
    const svg = await renderChartSvg(spec);
    const noFont = new Resvg(svg, {
      background: 'white',
      font: { loadSystemFonts: false, fontFiles: [] },
      logLevel: 'off',
    }).render();
    await writeFile(join(dir, 'no-font.png'), noFont.asPng());
    const untitled = await writeConfusionMatrixPng(join(dir, 'untitled.png'), MATRIX, { title: '' });
    const png = await decodePng(join(dir, 'no-font.png'));
    expect(darkPixels(png, 0, png.height - untitled.height)).toBe(0);
  });

  it('puts the counts, class names and axis titles in the chart', async () => {
    const svg = await renderChartSvg(confusionMatrixSpec(MATRIX, { title: 'T', subtitle: 'Macro F1 70.00 %' }));
    expect(svg).toContain('DejaVu Sans');
    for (const text of [
      'Mild',
      'Moderate',
      'Severe',
      'Critical',
      'Truth (label)',
      'Prediction',
      '>12<',
      '>10<',
      'Macro F1 70.00 %',
    ]) {
      expect(svg).toContain(text);
    }
    const renamed = await renderChartSvg(
      confusionMatrixSpec(
        [
          [1, 0],
          [2, 3],
        ],
        { classNames: ['neg', 'pos'] },
      ),
    );
    expect(renamed).toContain('>pos<');
  });

  it('refuses a matrix of the wrong shape or with bad counts', () => {
    expect(() => confusionMatrixSpec([[1, 2]])).toThrow(/4 x 4/);
    expect(() =>
      confusionMatrixSpec(
        [
          [1, -1],
          [0, 0],
        ],
        { classNames: ['a', 'b'] },
      ),
    ).toThrow(/integers >= 0/);
    expect(() =>
      confusionMatrixSpec(
        [
          [1, 0],
          [0, 0],
        ],
        { classNames: ['a', 'a'] },
      ),
    ).toThrow(/unique/);
  });
});
