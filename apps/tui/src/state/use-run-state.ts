/** The dashboard's reducer as a hook: the run folded from its events plus the UI's own state. */
import { useReducer } from 'react';
import { type DashboardAction, type DashboardState, initialDashboard, reduceDashboard } from './dashboard.js';

export function useRunState(initial: DashboardState = initialDashboard): [DashboardState, (action: DashboardAction) => void] {
  return useReducer(reduceDashboard, initial);
}
