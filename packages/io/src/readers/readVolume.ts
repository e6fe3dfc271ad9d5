import { stat } from 'node:fs/promises';
import { CovsevInputError } from '../errors.js';
import type { Volume } from '../volume.js';
import { dicomSeriesReader } from './dicom.js';
import { jpgFolderReader } from './jpgFolder.js';
import { niftiReader } from './nifti.js';
import type { ReadOptions, VolumeReader } from './reader.js';

/** The readers `readVolume` tries, in order. */
export const VOLUME_READERS: readonly VolumeReader[] = [niftiReader, jpgFolderReader, dicomSeriesReader];

/**
 * Reads a CT volume, choosing the reader by what the path is: a `.nii`/`.nii.gz` file, a
 * COV19-CT-DB folder of `<k>.jpg` slices, or a folder holding a DICOM series.
 */
export async function readVolume(path: string, options: ReadOptions = {}): Promise<Volume> {
  try {
    await stat(path);
  } catch {
    throw new CovsevInputError(path, 'no such file or folder');
  }
  for (const reader of VOLUME_READERS) {
    if (await reader.canRead(path)) return reader.read(path, options);
  }
  throw new CovsevInputError(
    path,
    `not a CT volume covsev can read (readers tried: ${VOLUME_READERS.map((r) => r.name).join(', ')}): expected a .nii/.nii.gz file, a folder of <k>.jpg slices, or a folder of DICOM files`,
  );
}
