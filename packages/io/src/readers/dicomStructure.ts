/**
 * A walk over the element structure of a DICOM file, independent of daikon, to say what is wrong
 * when daikon fails or finds no pixel data: a broken "DICM" preamble, an element header that is
 * not one (no value representation), a length that runs past the end of the file or does not fit
 * its value representation, no pixel data element. It only reads tags, VRs and lengths.
 */

/** Value representations whose length is a 32-bit field after two reserved bytes (explicit VR). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const SHORT_VRS = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FL',
  'FD',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'SL',
  'SS',
  'ST',
  'TM',
  'UI',
  'UL',
  'US',
]);
/** Binary VRs whose values have a fixed size: a length that is not a multiple of it is corrupt. */
const FIXED_SIZE: Readonly<Record<string, number>> = { UL: 4, SL: 4, US: 2, SS: 2, FL: 4, FD: 8, AT: 4 };
const UNDEFINED_LENGTH = 0xffffffff;

export const TRANSFER_SYNTAX = {
  implicitLittle: '1.2.840.10008.1.2',
  explicitLittle: '1.2.840.10008.1.2.1',
  deflate: '1.2.840.10008.1.2.1.99',
  explicitBig: '1.2.840.10008.1.2.2',
} as const;

/** Transfer syntaxes daikon decodes (uncompressed, deflate, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE). */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  TRANSFER_SYNTAX.implicitLittle,
  TRANSFER_SYNTAX.explicitLittle,
  TRANSFER_SYNTAX.deflate,
  TRANSFER_SYNTAX.explicitBig,
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
  '1.2.840.10008.1.2.5',
]);

export interface DicomStructure {
  /** The first structural problem, in words, or undefined when the walk found none. */
  readonly problem: string | undefined;
  /** True when a pixel data element (7FE0,0010) was reached (undefined: not walked, deflated). */
  readonly pixelData: boolean | undefined;
  readonly transferSyntax: string | undefined;
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const tagName = (group: number, element: number) => `(${hex(group)},${hex(element)})`;

/** Walks the elements of `bytes` (see the module comment). */
export function walkDicom(bytes: Uint8Array): DicomStructure {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  const hasMarker = end >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  let pos = hasMarker ? 132 : 0;
  let transferSyntax: string | undefined;
  const vrAt = (at: number) => String.fromCharCode(bytes[at] as number, bytes[at + 1] as number);
  let explicit = hasMarker || (end >= 6 && (SHORT_VRS.has(vrAt(4)) || LONG_VRS.has(vrAt(4))));
  let le = true;
  let inMeta = true;
  let elements = 0;
  /** Open sequences and items: where a defined length says they end (Infinity: undefined length). */
  const open: { kind: 'sequence' | 'item'; tag: string; start: number; end: number }[] = [];
  const result = (problem: string | undefined, pixelData: boolean | undefined): DicomStructure => ({
    problem,
    pixelData,
    transferSyntax,
  });

  while (pos < end) {
    if (pos + 8 > end) {
      return result(`truncated: an element header at byte ${pos} is cut off by the end of the file (${end} bytes)`, false);
    }
    const metaGroup = view.getUint16(pos, true) === 0x0002;
    if (inMeta && !metaGroup) {
      // The file meta information (explicit VR little endian) ends: the dataset follows in its own syntax.
      inMeta = false;
      if (transferSyntax === TRANSFER_SYNTAX.deflate) return result(undefined, undefined);
      if (transferSyntax === TRANSFER_SYNTAX.implicitLittle) explicit = false;
      else if (transferSyntax !== undefined) explicit = true;
      le = transferSyntax !== TRANSFER_SYNTAX.explicitBig;
    }
    const l = inMeta || le;
    const group = view.getUint16(pos, l);
    const element = view.getUint16(pos + 2, l);
    const tag = tagName(group, element);
    elements++;
    while (open.length > 0 && (open[open.length - 1] as (typeof open)[number]).end === pos) open.pop();
    const top = open[open.length - 1];
    if (top !== undefined && top.end < pos) {
      return result(
        `corrupt length: the ${top.kind} ${top.tag} at byte ${top.start} declares ${top.end - top.start} bytes, but what it holds runs past its end`,
        false,
      );
    }
    if (top?.kind === 'sequence' && group !== 0xfffe) {
      return result(
        `corrupt sequence ${top.tag} at byte ${top.start}: element ${tag} at byte ${pos} inside it is not an item (a wrong sequence length?)`,
        false,
      );
    }
    if (group === 0xfffe) {
      // Item and delimiters: 8 bytes; an item's content is walked as elements.
      const length = view.getUint32(pos + 4, l);
      if (element === 0xe000) {
        const itemEnd = length === UNDEFINED_LENGTH ? Number.POSITIVE_INFINITY : pos + 8 + length;
        if (itemEnd !== Number.POSITIVE_INFINITY && itemEnd > Math.min(end, top?.end ?? end)) {
          return result(
            `corrupt length: item at byte ${pos} declares ${length} bytes, more than ${itemEnd > end ? `the file holds (${end} bytes)` : `the sequence ${top?.tag} holding it`}`,
            false,
          );
        }
        open.push({ kind: 'item', tag, start: pos, end: itemEnd });
      } else if (element === 0xe00d || element === 0xe0dd) {
        const kind = element === 0xe00d ? 'item' : 'sequence';
        const at = open.map((o) => o.kind).lastIndexOf(kind);
        if (at >= 0) open.length = at;
      } else {
        return result(`corrupt element ${tag} at byte ${pos}: not an item or a delimiter`, false);
      }
      pos += 8;
      continue;
    }
    let vr: string | undefined;
    let length: number;
    let header: number;
    if (explicit || inMeta) {
      vr = vrAt(pos + 4);
      if (LONG_VRS.has(vr)) {
        if (pos + 12 > end) return result(`truncated: the header of element ${tag} at byte ${pos} is cut off`, false);
        length = view.getUint32(pos + 8, l);
        header = 12;
      } else if (SHORT_VRS.has(vr)) {
        length = view.getUint16(pos + 6, l);
        header = 8;
      } else {
        return result(
          `corrupt element ${tag} at byte ${pos}: "${vr.replace(/[^\x20-\x7e]/g, '?')}" is not a DICOM value representation (a corrupt header or a wrong length before it)`,
          false,
        );
      }
    } else {
      length = view.getUint32(pos + 4, l);
      header = 8;
    }
    if (group === 0x7fe0 && element === 0x0010) {
      if (length !== UNDEFINED_LENGTH && pos + header + length > end) {
        return result(
          `truncated: the pixel data element at byte ${pos} holds ${length} bytes but the file ends ${end - pos - header} bytes after its header`,
          true,
        );
      }
      if (length === UNDEFINED_LENGTH) return result(walkFragments(view, pos + header, l), true);
      return result(undefined, true);
    }
    const container = top === undefined ? Number.POSITIVE_INFINITY : top.end;
    if (length === UNDEFINED_LENGTH || vr === 'SQ') {
      // A sequence (or an undefined-length UN): walk into its items.
      const sequenceEnd = length === UNDEFINED_LENGTH ? Number.POSITIVE_INFINITY : pos + header + length;
      if (sequenceEnd > container) {
        return result(
          `corrupt length: sequence ${tag} at byte ${pos} declares ${length} bytes, more than the item holding it`,
          false,
        );
      }
      open.push({ kind: 'sequence', tag, start: pos, end: sequenceEnd });
      pos += header;
      continue;
    }
    if (pos + header + length > container && pos + header + length <= end) {
      return result(
        `corrupt length: element ${tag} at byte ${pos} claims ${length} bytes, past the end of the item holding it`,
        false,
      );
    }
    const size = vr === undefined ? undefined : FIXED_SIZE[vr];
    if (size !== undefined && length % size !== 0) {
      return result(`corrupt element ${tag} at byte ${pos}: VR ${vr} with length ${length}, not a multiple of ${size}`, false);
    }
    if (pos + header + length > end) {
      return result(
        `truncated or corrupt: element ${tag} at byte ${pos} claims ${length} bytes, past the end of the file (${end} bytes)`,
        false,
      );
    }
    if (inMeta && group === 0x0002 && element === 0x0010) {
      transferSyntax = new TextDecoder('latin1')
        .decode(bytes.subarray(pos + header, pos + header + length))
        .replace(/[\0 ]+$/, '');
    }
    pos += header + length;
  }
  return result(
    `no pixel data element (7FE0,0010): the dataset ends after ${elements} element(s) (a DICOM object without an image, or a truncated file)`,
    false,
  );
}

/** The fragments of encapsulated (compressed) pixel data: items up to the sequence delimiter. */
function walkFragments(view: DataView, start: number, le: boolean): string | undefined {
  const end = view.byteLength;
  let pos = start;
  for (let n = 0; ; n++) {
    if (pos + 8 > end) {
      return `truncated: the compressed pixel data ends after ${n} fragment(s) without its end marker (the file ends at byte ${end})`;
    }
    const group = view.getUint16(pos, le);
    const element = view.getUint16(pos + 2, le);
    const length = view.getUint32(pos + 4, le);
    if (group === 0xfffe && element === 0xe0dd) return undefined;
    if (group !== 0xfffe || element !== 0xe000) {
      return `corrupt compressed pixel data: ${tagName(group, element)} at byte ${pos} is not a fragment (item) or the end marker`;
    }
    if (pos + 8 + length > end) {
      return `truncated: pixel data fragment ${n} at byte ${pos} holds ${length} bytes but the file ends ${end - pos - 8} bytes after its header`;
    }
    pos += 8 + length;
  }
}
