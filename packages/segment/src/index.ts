export * from './losses/index.js';
export * from './modelCard.js';
export * from './models/contract.js';
export * from './morphology/index.js';
