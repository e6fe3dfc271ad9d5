/**
 * The dashboard's state beyond the run: commands sent on the control channel, the panel shown,
 * help, and the training child (for `train`). `reduceDashboard` takes typed actions; the run
 * itself is folded by `reduceRun`.
 */
import { hasEnded, initialRunState, type RunState, reduceEvents } from './run-state.js';

export interface SentCommand {
  readonly id: string;
  readonly command: string;
  readonly time: number;
}

export interface DashboardState {
  readonly run: RunState;
  readonly sent: readonly SentCommand[];
  /** `q` was pressed on a live run: the stop is sent and the app waits for the answer. */
  readonly stopping: boolean;
  readonly panel: number;
  readonly help: boolean;
  /** A line for the status bar (a control answer, a failure to send). */
  readonly notice?: string;
  /** The training child's state (`train` only). */
  readonly child?: {
    readonly status: 'starting' | 'running' | 'exited';
    readonly code?: number;
    readonly error?: string;
    readonly note?: string;
  };
}

export type DashboardAction =
  | { readonly type: 'events'; readonly events: readonly unknown[] }
  | { readonly type: 'control-sent'; readonly id: string; readonly command: string; readonly time: number }
  | { readonly type: 'control-failed'; readonly command: string; readonly message: string }
  | { readonly type: 'stopping' }
  | { readonly type: 'panel'; readonly index: number; readonly count: number }
  | { readonly type: 'cycle-panel'; readonly step: 1 | -1; readonly count: number }
  | { readonly type: 'help' }
  | { readonly type: 'child-note'; readonly note: string }
  | { readonly type: 'child-started' }
  | { readonly type: 'child-exit'; readonly code: number; readonly error?: string };

export const initialDashboard: DashboardState = { run: initialRunState, sent: [], stopping: false, panel: 0, help: false };

export function reduceDashboard(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'events': {
      const run = reduceEvents(state.run, action.events);
      const answer = run.controls.length > state.run.controls.length ? run.controls.at(-1) : undefined;
      const notice =
        answer === undefined
          ? state.notice
          : `${answer.command}: ${answer.status}${answer.message === undefined ? '' : ` (${answer.message})`}${answer.path === undefined ? '' : ` -> ${answer.path}`}`;
      return { ...state, run, ...(notice === undefined ? {} : { notice }) };
    }
    case 'control-sent':
      return {
        ...state,
        sent: [...state.sent, { id: action.id, command: action.command, time: action.time }],
        notice: `${action.command} sent (${action.id.slice(0, 8)}), waiting for the trainer's answer`,
      };
    case 'control-failed':
      return { ...state, stopping: false, notice: `${action.command} not sent: ${action.message}` };
    case 'stopping':
      return { ...state, stopping: true };
    case 'panel':
      return action.index < action.count ? { ...state, panel: action.index, help: false } : state;
    case 'cycle-panel':
      return { ...state, panel: (state.panel + action.step + action.count) % Math.max(1, action.count), help: false };
    case 'help':
      return { ...state, help: !state.help };
    case 'child-note':
      return { ...state, child: { ...(state.child ?? { status: 'starting' }), note: action.note } };
    case 'child-started':
      return { ...state, child: { ...(state.child ?? {}), status: 'running' } };
    case 'child-exit':
      return {
        ...state,
        child: {
          ...(state.child ?? {}),
          status: 'exited',
          code: action.code,
          ...(action.error === undefined ? {} : { error: action.error }),
        },
      };
    default:
      return state;
  }
}

/** Whether the stop asked for has been answered: a `control` stop answer, or the run's end. */
export function stopAnswered(state: DashboardState): boolean {
  if (hasEnded(state.run)) return true;
  const ids = new Set(state.sent.filter((s) => s.command === 'stop').map((s) => s.id));
  return state.run.controls.some((c) => c.command === 'stop' && (ids.has(c.id) || c.id === ''));
}
