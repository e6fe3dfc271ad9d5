/**
 * A walk over a JPEG's marker segments, without decoding: the frame size and component count
 * from the SOF header, and the problems a decoder may paper over. Fast decoders (image-rs, like
 * OpenCV) return a grey-filled image for a truncated file; this walk catches truncation (no EOI
 * after the last scan), segment lengths that run past the end, and files that are not JPEG.
 * It cannot see corruption inside the entropy-coded data that still parses.
 */
export interface JpegFrame {
  readonly rows: number;
  readonly cols: number;
  readonly components: number;
}

export type JpegCheck = { ok: true; frame: JpegFrame } | { ok: false; problem: string };

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

export function checkJpegStructure(bytes: Uint8Array): JpegCheck {
  const n = bytes.length;
  if (n < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return { ok: false, problem: 'not a JPEG (no SOI marker at the start)' };
  let frame: JpegFrame | undefined;
  let i = 2;
  let scans = 0;
  while (i < n) {
    if (bytes[i] !== 0xff) return { ok: false, problem: `bad marker at byte ${i}` };
    while (i < n && bytes[i] === 0xff) i++; // fill bytes
    if (i >= n) break;
    const marker = bytes[i] as number;
    i++;
    if (marker === 0xd9) {
      if (frame === undefined) return { ok: false, problem: 'no frame header (SOF) before the end' };
      if (scans === 0) return { ok: false, problem: 'no image data (SOS) before the end' };
      return { ok: true, frame };
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue;
    if (i + 2 > n) break;
    const length = ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
    if (length < 2 || i + length > n)
      return { ok: false, problem: `truncated: segment 0xFF${marker.toString(16).toUpperCase()} runs past the end of the file` };
    if (SOF_MARKERS.has(marker) && length >= 8) {
      frame = {
        rows: ((bytes[i + 3] as number) << 8) | (bytes[i + 4] as number),
        cols: ((bytes[i + 5] as number) << 8) | (bytes[i + 6] as number),
        components: bytes[i + 7] as number,
      };
      if (frame.rows === 0 || frame.cols === 0)
        return { ok: false, problem: `frame header gives an empty size ${frame.cols}x${frame.rows}` };
    }
    i += length;
    if (marker === 0xda) {
      scans++;
      // Entropy-coded data: 0xFF is followed by 0x00 (a stuffed byte) or a restart marker.
      while (i < n) {
        if (bytes[i] !== 0xff) {
          i++;
          continue;
        }
        const next = bytes[i + 1];
        if (next === undefined) break;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) i += 2;
        else if (next === 0xff) i++;
        else break; // the next marker
      }
    }
  }
  return { ok: false, problem: 'truncated: the file ends before the end-of-image marker' };
}
