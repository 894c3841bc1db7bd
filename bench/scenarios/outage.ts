import type { Scenario } from './types.js';
export const outage: Scenario = async () => {
  throw new Error('not yet');
};
