// The chaos suites by name, in the order the runner runs them.
import type { SuiteOptions } from '../lib/common.js';
import type { SuiteResult } from '../lib/report.js';
import { abusive } from './abusive.js';
import { badInput } from './bad-input.js';
import { crashLoop } from './crash-loop.js';
import { downstream } from './downstream.js';
import { powerLoss } from './power-loss.js';

export const SUITES: Record<string, (opts: SuiteOptions) => Promise<SuiteResult>> = {
  'crash-loop': crashLoop,
  'power-loss': powerLoss,
  downstream,
  'bad-input': badInput,
  abusive,
};
