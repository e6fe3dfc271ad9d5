/** The pipeline's stages (a pipeline run folder): status, items done, time, warnings. */
import { Box, Text } from 'ink';
import { bar, formatDuration } from '../format.js';
import type { RunState } from '../state/run-state.js';

export function Stages({ state, width }: { readonly state: RunState; readonly width: number }) {
  return (
    <Box flexDirection="column">
      <Text bold>Stages</Text>
      {state.stages.length === 0 ? (
        <Text dimColor wrap="truncate-end">
          no pipeline stages (a training run folder)
        </Text>
      ) : (
        state.stages.map((s) => {
          const total = s.total ?? 0;
          return (
            <Box key={s.stage} flexDirection="column">
              <Text wrap="truncate-end" {...(s.status === 'done' ? { color: 'green' } : {})}>
                {s.status === 'done' ? '✓' : '…'} {s.stage.padEnd(17)} {total > 0 ? `${s.done}/${total} ` : ''}
                {total > 0 ? bar(s.done / total, Math.max(1, Math.min(16, width - 40))) : ''}
                {s.ms === undefined ? '' : ` ${formatDuration(s.ms)}`}
                {s.status === 'running' && s.item !== undefined ? ` ${s.item}` : ''}
              </Text>
              {s.warnings.map((w) => (
                <Text key={w} color="yellow" wrap="truncate-end">
                  {'  '}warning: {w}
                </Text>
              ))}
            </Box>
          );
        })
      )}
    </Box>
  );
}
