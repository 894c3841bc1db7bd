#!/usr/bin/env node
// Entry point for `spillway` and `npm start`: runs the compiled proxy (built by `npm ci` / `npm run build`).
import { main } from '../dist/main.js';

await main();
