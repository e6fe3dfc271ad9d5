/**
 * The native image libraries (sharp, @napi-rs/image), loaded on first use rather than when
 * `@covsev/io` is imported: code that only reads NIfTI, parses CSVs or draws random numbers never
 * loads their binaries.
 */
type Sharp = typeof import('sharp');
type NapiImage = typeof import('@napi-rs/image');

let sharpModule: Promise<Sharp> | undefined;
let napiModule: Promise<NapiImage> | undefined;

/** sharp's default export. */
export async function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => (m as unknown as { default: Sharp }).default);
  return sharpModule;
}

/** @napi-rs/image's module. */
export async function loadNapiImage(): Promise<NapiImage> {
  napiModule ??= import('@napi-rs/image');
  return napiModule;
}
