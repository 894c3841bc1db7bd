import type { Scenario } from './types.js';
export const crash: Scenario = async () => {
  throw new Error('not yet');
};
