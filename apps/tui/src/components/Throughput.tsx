/** Volumes (classifier) or slices (segmentation) per second, from `samples` / `ms`; step time and the learning rate. */
import { Box, Text } from 'ink';
import { fmt, sampleUnit } from '../format.js';
import type { RunState } from '../state/run-state.js';

export function Throughput({ state }: { readonly state: RunState }) {
  return (
    <Box flexDirection="column">
      <Text bold>Throughput</Text>
      <Text wrap="truncate-end">
        {sampleUnit(state.kind)}/s {state.volumesPerSecond === undefined ? '-' : fmt(state.volumesPerSecond, 3)}
      </Text>
      <Text wrap="truncate-end">
        step {state.stepMs === undefined ? '-' : `${fmt(state.stepMs / 1000, 3)} s`} (avg{' '}
        {state.avgStepMs === undefined ? '-' : `${fmt(state.avgStepMs / 1000, 3)} s`})
      </Text>
      <Text wrap="truncate-end">
        batch {state.samples ?? '-'} · lr {fmt(state.lr)}
      </Text>
    </Box>
  );
}
