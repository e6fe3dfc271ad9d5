/** The dashboard's keys: q stop/quit, c checkpoint, tab / shift-tab / 1-9 panels, ? help. */
import { useInput } from 'ink';

export interface DashboardKeys {
  readonly onQuit: () => void;
  readonly onCheckpoint: () => void;
  /** +1 for tab, -1 for shift-tab. */
  readonly onCyclePanel: (step: 1 | -1) => void;
  /** 0-based panel index from the keys 1-9. */
  readonly onPanel: (index: number) => void;
  readonly onHelp: () => void;
}

export function useDashboardKeys(keys: DashboardKeys, isActive = true): void {
  useInput(
    (input, key) => {
      if (key.tab) keys.onCyclePanel(key.shift ? -1 : 1);
      else if (input === 'q') keys.onQuit();
      else if (input === 'c') keys.onCheckpoint();
      else if (input === '?' || input === 'h') keys.onHelp();
      else if (/^[1-9]$/.test(input)) keys.onPanel(Number(input) - 1);
    },
    { isActive },
  );
}
