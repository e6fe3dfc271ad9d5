/**
 * Model cards on disk (`model.json`, the schema in `../modelCard.ts`): read with every problem
 * named with the file, written atomically.
 */
import { readFile } from 'node:fs/promises';
import { CovsevInputError, writeFileAtomic } from '@covsev/io';
import { type ModelCard, modelCardSchema } from '../modelCard.js';

/** Reads and validates a model card; a missing file, bad JSON or any schema problem is a CovsevInputError naming `path`. */
export async function readModelCard(path: string): Promise<ModelCard> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CovsevInputError(path, code === 'ENOENT' ? 'no such model card' : `cannot be read (${(error as Error).message})`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CovsevInputError(path, `is not JSON (${(error as Error).message})`, { cause: error });
  }
  return parseModelCard(json, path);
}

/** Validates a card's JSON value; `path` names it in the error. */
export function parseModelCard(json: unknown, path: string): ModelCard {
  const parsed = modelCardSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const at = issue.path.length > 0 ? issue.path.join('.') : 'the card';
    return `${at}: ${issue.message}`;
  });
  throw new CovsevInputError(path, `is not a valid segmentation model card: ${problems.join('; ')}`);
}

/** Writes a card (validated first) as indented JSON, atomically. */
export async function writeModelCard(path: string, card: ModelCard): Promise<void> {
  const checked = modelCardSchema.parse(card);
  await writeFileAtomic(path, `${JSON.stringify(checked, null, 2)}\n`);
}
