#!/usr/bin/env node
// Entry point for `spillway` and `npm start`: runs the compiled proxy.
import '../dist/main.js';
