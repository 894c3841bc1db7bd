#!/usr/bin/env bash
# tap compiles its plugin set into node_modules. A fresh `npm ci` has the default set,
# which includes the ts-node based TypeScript plugin; this project removes it in .taprc
# (tests load through tsx), so rebuild once when the installed set still has it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
built=node_modules/@tapjs/test/test-built/dist/esm/index.js
if [[ ! -f "$built" ]] || grep -q 'from "@tapjs/typescript"' "$built"; then
  echo "tap: building its plugin set from .taprc (once per install)"
  npx tap build >/dev/null
fi
