/**
 * The small part of daikon 1.2.46 (a CommonJS DICOM parser without type declarations) that
 * covsev uses. Only `readers/dicom.ts` imports it, lazily, and no daikon type leaks into the
 * public API.
 */
declare module 'daikon' {
  namespace daikon {
    interface Tag {
      readonly group: number;
      readonly element: number;
      readonly vr: string;
      /** Strings and numbers come as arrays; binary values (OB, OW, UN) as a DataView; null when empty. */
      readonly value: unknown;
    }

    interface Image {
      /** Top-level tags by id: group and element as 4 upper-case hex digits each ("00200032"). */
      readonly tags: Readonly<Record<string, Tag | undefined>>;
      /** Byte order of the pixel data (and of the dataset). */
      littleEndian: boolean;
      /** Tag by group and element, searching nested sequences too. */
      getTag(group: number, element: number): Tag | undefined;
      hasPixelData(): boolean;
      /** Pixel data bytes, decompressed (RLE, JPEG lossless/baseline/LS/2000) if the transfer syntax is compressed. */
      getRawData(): ArrayBuffer;
      getTransferSyntax(): string | null;
      isCompressed(): boolean;
    }

    interface SeriesStatic {
      /** Parses a whole file (the DataView must span its own ArrayBuffer from offset 0). Null on failure. */
      parseImage(data: DataView): Image | null;
      /** The error of the last failed parseImage. */
      parserError: unknown;
    }
  }

  const daikon: {
    readonly Series: daikon.SeriesStatic;
  };
  export = daikon;
}
