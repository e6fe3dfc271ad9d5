/** @covsev/tui: the training dashboard's parts, for tests and other front ends. */
export { App, type AppProps, PANELS, panelsShown } from './components/App.js';
export { CONTROL_FILE, type ControlCommand, sendControl } from './control.js';
export { followPlain, plainLine, plainPrinter } from './plain.js';
export { pipelineRunPaths, type RunPaths, resolveRunPaths, trainingRunPaths } from './run-folder.js';
export { defaultRunRoots, listRuns, type RunSummary, runLine, summarizeRun } from './runs.js';
export { type DashboardAction, type DashboardState, reduceDashboard } from './state/dashboard.js';
export { initialRunState, isRunOver, type RunState, reduceEvents, reduceRun } from './state/run-state.js';
