#!/usr/bin/env node
import { failure, main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    const { message, exitCode } = failure(err);
    console.error(`dedup-pool: ${message}`);
    process.exitCode = exitCode;
  },
);
