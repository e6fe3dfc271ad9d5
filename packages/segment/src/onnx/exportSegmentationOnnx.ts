/**
 * A covsev segmentation model as an ONNX file with its card, so it runs through the same path as
 * an imported model (`loadSegmenter`, onnxruntime: the fast inference path).
 */
import { join } from 'node:path';
import { exportOnnx, type OnnxExportInfo } from '@covsev/engine';
import { tfjsCardProblem } from '../infer/segmenter.js';
import type { ModelCard } from '../modelCard.js';
import type { SegmentationModel } from '../models/contract.js';
import { writeModelCard } from './modelCardFile.js';

/** File names inside an export folder. */
export const SEGMENTATION_ONNX_FILE = 'model.onnx';
export const SEGMENTATION_CARD_FILE = 'model.json';

export interface SegmentationOnnxExport {
  /** `<dir>/model.onnx`. */
  readonly onnxPath: string;
  /** `<dir>/model.json`: the card with `onnx: "model.onnx"` (and the architecture). */
  readonly cardPath: string;
  readonly card: ModelCard;
  readonly info: OnnxExportInfo;
}

/**
 * Writes `<dir>/model.onnx` (eval mode, batch norm folded; input `input` NCHW `[batch, C, H, W]`
 * with `[H, W] = card.input.size` and a symbolic batch, output `output` `[batch, classes, H, W]`
 * logits) and then `<dir>/model.json`, each atomically; the card goes last, so a folder with a
 * card has its ONNX file. The card must describe the model (`TfjsSegmenter`'s checks).
 */
export async function exportSegmentationOnnx(
  model: SegmentationModel,
  card: ModelCard,
  dir: string,
): Promise<SegmentationOnnxExport> {
  const problem = tfjsCardProblem(model, card);
  if (problem !== undefined) throw new RangeError(`exportSegmentationOnnx (${model.name}): ${problem}`);
  const onnxPath = join(dir, SEGMENTATION_ONNX_FILE);
  const cardPath = join(dir, SEGMENTATION_CARD_FILE);
  const [h, w] = card.input.size;
  const info = await exportOnnx(model, [1, card.input.channels, h, w], onnxPath, {
    dynamicBatch: true,
    docString: `covsev ${card.task} segmentation: ${model.name}; input NCHW [batch, ${card.input.channels}, ${h}, ${w}], output logits [batch, ${model.config.classes}, ${h}, ${w}]`,
  });
  const exported: ModelCard = { ...card, architecture: model.config, onnx: SEGMENTATION_ONNX_FILE };
  await writeModelCard(cardPath, exported);
  return { onnxPath, cardPath, card: exported, info };
}
