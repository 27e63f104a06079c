#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so `npx eas` works from a fresh `npm ci` with no build step.
require('tsx/cjs');
require('../src/cli/main.ts');
