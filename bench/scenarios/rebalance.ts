import type { Scenario } from './types.js';
export const rebalance: Scenario = async () => {
  throw new Error('not yet');
};
