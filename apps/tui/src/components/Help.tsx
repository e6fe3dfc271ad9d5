/** The keys, and the panels they switch to. */
import { Box, Text } from 'ink';

export interface HelpProps {
  readonly panels: readonly string[];
  readonly finished: boolean;
}

export function Help({ panels, finished }: HelpProps) {
  return (
    <Box flexDirection="column">
      <Text bold>Keys</Text>
      <Text wrap="truncate-end">
        q {finished ? 'quit' : 'stop the run (control: stop), wait for its answer, quit; q again: quit now'}
      </Text>
      <Text wrap="truncate-end">c ask the trainer for a checkpoint now (control: checkpoint)</Text>
      <Text wrap="truncate-end">tab / shift-tab next / previous panel; 1-{panels.length} a panel:</Text>
      {panels.map((p, i) => (
        <Text key={p} wrap="truncate-end">
          {'  '}
          {i + 1} {p}
        </Text>
      ))}
      <Text wrap="truncate-end">? this help · ctrl-c quit at once</Text>
    </Box>
  );
}
