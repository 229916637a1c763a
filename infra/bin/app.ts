#!/usr/bin/env node
import { buildApp } from '../lib/app';
import { ConfigError } from '../lib/context-values';

// SKIP_BUNDLING=1 synthesizes every template without building the Rust functions (reviews,
// offline checks); without it, synth runs cargo-lambda for each function.
try {
  buildApp({ skipBundling: process.env.SKIP_BUNDLING === '1' });
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
