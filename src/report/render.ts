import * as fs from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import type * as VegaLite from 'vega-lite/build/index';
import type { TopLevelSpec } from 'vega-lite/build/index';

/**
 * Vega-Lite → Vega → SVG (vega's headless SVG renderer) → PNG (resvg, a Rust rasteriser shipped prebuilt inside its
 * npm package). vega and vega-lite are ESM with top-level await, so they are loaded with import(), never require().
 * (vega-lite declares its types only under "exports", hence the type import from its build path.)
 */

const importEsm = (specifier: string): Promise<unknown> => import(specifier);

/** The font the figures name; resvg is given these files (Debian's fonts-dejavu) plus the system fonts. */
export const FIGURE_FONT = 'DejaVu Sans';
const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];

export interface Rendered {
  svg: string;
  png: Buffer;
}

/** Common look of the figures: one font everywhere, so that the SVG and the PNG agree. */
export const FIGURE_CONFIG = {
  font: FIGURE_FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), importEsm('vega-lite') as Promise<typeof VegaLite>]);
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  const fontFiles = FONT_FILES.filter((f) => fs.existsSync(f));
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { fontFiles, loadSystemFonts: true, defaultFontFamily: FIGURE_FONT, sansSerifFamily: FIGURE_FONT },
  });
  return Buffer.from(resvg.render().asPng());
}

export async function renderFigure(spec: TopLevelSpec): Promise<Rendered> {
  const svg = await renderSvg(spec);
  return { svg, png: await svgToPng(svg) };
}
