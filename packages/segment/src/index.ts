export * from './modelCard.js';
export * from './models/contract.js';
