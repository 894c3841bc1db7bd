import type { Scenario } from './types.js';
export const capacity: Scenario = async () => {
  throw new Error('not yet');
};
