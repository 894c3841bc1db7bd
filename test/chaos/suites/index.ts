// The chaos suites by name, in the order the runner runs them.
import type { SuiteOptions } from '../lib/common.js';
import type { SuiteResult } from '../lib/report.js';
import { crashLoop } from './crash-loop.js';
import { powerLoss } from './power-loss.js';

export const SUITES: Record<string, (opts: SuiteOptions) => Promise<SuiteResult>> = {
  'crash-loop': crashLoop,
  'power-loss': powerLoss,
};
