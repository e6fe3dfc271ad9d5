import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkJpegStructure } from './jpegStructure.js';

async function jpeg(progressive: boolean, channels: 1 | 3 = 1): Promise<Buffer> {
  const pixels = Uint8Array.from({ length: 40 * 24 * channels }, (_, i) => (i * 31) % 256);
  const image = sharp(pixels, { raw: { width: 24, height: 40, channels } });
  return (channels === 1 ? image.toColourspace('b-w') : image).jpeg({ quality: 90, progressive }).toBuffer();
}

describe('checkJpegStructure', () => {
  it.each([
    ['baseline grey', false, 1],
    ['progressive grey', true, 1],
    ['baseline RGB', false, 3],
  ] as const)('accepts a whole %s JPEG and reads its frame', async (_name, progressive, channels) => {
    const check = checkJpegStructure(await jpeg(progressive, channels));
    expect(check).toEqual({ ok: true, frame: { rows: 40, cols: 24, components: channels } });
  });

  it('refuses every truncation of a JPEG, and non-JPEG bytes', async () => {
    const whole = await jpeg(true);
    for (let cut = 2; cut < whole.length - 1; cut += 7) {
      const check = checkJpegStructure(whole.subarray(0, cut));
      expect(check.ok, `cut at ${cut} of ${whole.length}`).toBe(false);
    }
    expect(checkJpegStructure(Buffer.from('GIF89a........'))).toEqual({
      ok: false,
      problem: 'not a JPEG (no SOI marker at the start)',
    });
    expect(checkJpegStructure(whole.subarray(0, whole.length - 2))).toEqual({
      ok: false,
      problem: 'truncated: the file ends before the end-of-image marker',
    });
  });
});
