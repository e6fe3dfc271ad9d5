/**
 * The loss terms of the last step and their moving averages: every key the trainer writes, e.g.
 * total (joint), contrastive, mixup, classification (weighted CE) and the learnt weights
 * exp(-s1), exp(-s2) for CMC, or the Dice loss of a segmentation run.
 */
import { Box, Text } from 'ink';
import { clip, fmt, LOSS_LABELS } from '../format.js';
import type { RunState } from '../state/run-state.js';

export interface LossesProps {
  readonly state: RunState;
  readonly width: number;
}

export function Losses({ state, width }: LossesProps) {
  const keys = Object.keys(state.losses);
  const nameWidth = Math.max(6, Math.min(30, width - 24));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        Losses{state.lr === undefined ? '' : `  (lr ${fmt(state.lr)})`}
      </Text>
      {keys.length === 0 ? (
        <Text dimColor>waiting for the first step</Text>
      ) : (
        <>
          <Text dimColor wrap="truncate-end">
            {'term'.padEnd(nameWidth)} {'now'.padStart(10)} {'smoothed'.padStart(10)}
          </Text>
          {keys.map((key) => (
            <Text key={key} wrap="truncate-end" {...(/^weight/.test(key) ? { color: 'magenta' } : {})}>
              {clip(LOSS_LABELS[key] ?? key, nameWidth).padEnd(nameWidth)} {fmt(state.losses[key]).padStart(10)}{' '}
              {fmt(state.smoothed[key]).padStart(10)}
            </Text>
          ))}
        </>
      )}
    </Box>
  );
}
