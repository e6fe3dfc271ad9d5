/**
 * Charts to PNG: a Vega-Lite spec is compiled (`vega-lite`), laid out and drawn to SVG by Vega's
 * headless view (`view.toSVG()`, no canvas needed) and rasterised by resvg (`@resvg/resvg-js`,
 * prebuilt binaries). Text is drawn with the DejaVu Sans files of the `dejavu-fonts-ttf` package,
 * given to resvg explicitly with system fonts off, so a machine without fonts (CI) draws the same
 * text and the same pixels.
 */
import { createRequire } from 'node:module';
import { writeFileAtomic } from '@covsev/io';
import { Resvg } from '@resvg/resvg-js';
import { parse, Error as VEGA_ERROR, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The font family every chart uses (the files come with `dejavu-fonts-ttf`). */
export const CHART_FONT_FAMILY = 'DejaVu Sans';

const require = createRequire(import.meta.url);

/** The TrueType files resvg loads: DejaVu Sans regular and bold (titles are bold). */
export function chartFontFiles(): string[] {
  return ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((file) => require.resolve(`dejavu-fonts-ttf/ttf/${file}`));
}

/** Options of `renderChartPng` / `writeChartPng`. */
export interface RenderOptions {
  /** Pixels per chart unit (default 2: a 400-unit-wide chart is 800 pixels wide). */
  readonly scale?: number;
  /** The background colour (default white). */
  readonly background?: string;
}

/** A rendered chart: PNG bytes and the pixel size. */
export interface RenderedChart {
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
}

/** Vega-Lite to an SVG string (the font and background set unless the spec's config sets them). */
export async function renderChartSvg(spec: TopLevelSpec, options: RenderOptions = {}): Promise<string> {
  const scale = options.scale ?? 2;
  if (!(Number.isFinite(scale) && scale > 0)) throw new RangeError(`renderChartSvg: scale must be > 0, got ${scale}`);
  const withDefaults = {
    ...spec,
    config: { font: CHART_FONT_FAMILY, background: options.background ?? 'white', ...spec.config },
  } as TopLevelSpec;
  const view = new View(parse(compile(withDefaults).spec), { renderer: 'none', logLevel: VEGA_ERROR });
  try {
    return await view.toSVG(scale);
  } finally {
    view.finalize();
  }
}

/** Vega-Lite to PNG bytes (see the module comment). */
export async function renderChartPng(spec: TopLevelSpec, options: RenderOptions = {}): Promise<RenderedChart> {
  const svg = await renderChartSvg(spec, options);
  const image = new Resvg(svg, {
    background: options.background ?? 'white',
    font: {
      loadSystemFonts: false,
      fontFiles: chartFontFiles(),
      defaultFontFamily: CHART_FONT_FAMILY,
      sansSerifFamily: CHART_FONT_FAMILY,
    },
    logLevel: 'off',
  }).render();
  return { png: image.asPng(), width: image.width, height: image.height };
}

/** Renders `spec` and writes the PNG to `path` atomically (temporary sibling, then rename; folders created). */
export async function writeChartPng(path: string, spec: TopLevelSpec, options: RenderOptions = {}): Promise<RenderedChart> {
  const rendered = await renderChartPng(spec, options);
  await writeFileAtomic(path, rendered.png);
  return rendered;
}
