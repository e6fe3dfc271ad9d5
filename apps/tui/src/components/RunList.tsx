/** The runs under the runs folders, newest first: pick one with the arrow keys and enter. */
import { Box, Text, useApp, useInput } from 'ink';
import { useState } from 'react';
import { clip } from '../format.js';
import { type RunSummary, runLine } from '../runs.js';

export interface RunListProps {
  readonly runs: readonly RunSummary[];
  readonly roots: readonly string[];
  readonly onSelect: (run: RunSummary) => void;
  readonly columns: number;
  readonly rows: number;
}

export function RunList({ runs, roots, onSelect, columns, rows }: RunListProps) {
  const { exit } = useApp();
  const [index, setIndex] = useState(0);
  useInput((input, key) => {
    if (key.upArrow) setIndex((i) => Math.max(0, i - 1));
    else if (key.downArrow) setIndex((i) => Math.min(runs.length - 1, i + 1));
    else if (key.return && runs[index] !== undefined) {
      onSelect(runs[index] as RunSummary);
      exit();
    } else if (input === 'q' || key.escape) exit();
  });
  const visible = Math.max(1, rows - 4);
  const first = Math.max(0, Math.min(index - Math.floor(visible / 2), runs.length - visible));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        covsev runs under {roots.join(', ')} (newest first)
      </Text>
      {runs.length === 0 ? (
        <Text dimColor>no runs yet (a run folder holds an events.jsonl): start one with pnpm tui -- train cmc --phantom 16</Text>
      ) : (
        runs.slice(first, first + visible).map((run, k) => {
          const selected = first + k === index;
          return (
            <Text key={run.paths.dir} wrap="truncate-end" {...(selected ? { inverse: true } : {})}>
              {selected ? '> ' : '  '}
              {clip(runLine(run), columns - 3)}
            </Text>
          );
        })
      )}
      <Text dimColor wrap="truncate-end">
        up/down choose · enter follow · q quit
      </Text>
    </Box>
  );
}
