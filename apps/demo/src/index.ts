export { DEFAULT_DEMO, type DemoOptions, type DemoSummary, runDemo } from './demo.js';
