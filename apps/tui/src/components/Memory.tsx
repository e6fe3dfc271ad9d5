/** The trainer's memory at its last step: RSS, JS heap, live tensors, the wasm heap. */
import { Box, Text } from 'ink';
import { fmtBytes } from '../format.js';
import type { RunState } from '../state/run-state.js';

export function Memory({ state }: { readonly state: RunState }) {
  const m = state.memory;
  return (
    <Box flexDirection="column">
      <Text bold>Memory</Text>
      {m === undefined ? (
        <Text dimColor>not reported by this trainer</Text>
      ) : (
        <>
          <Text wrap="truncate-end">
            RSS {fmtBytes(m.rss)} · JS heap {fmtBytes(m.heapUsed)}
          </Text>
          <Text wrap="truncate-end">
            tensors {m.tensors ?? '-'} · wasm heap {fmtBytes(m.wasmHeap)}
          </Text>
        </>
      )}
    </Box>
  );
}
