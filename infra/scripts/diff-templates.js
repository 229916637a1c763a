#!/usr/bin/env node
// Compares two cloud assemblies' templates, for a refactoring that must replace nothing: the
// logical ids of every resource, output, condition and parameter, and each resource's type,
// properties, dependencies and policies. Asset hashes (S3 keys, the hash-named version ids of
// functions whose code hash moved with the Rust sources) are masked; nothing else is.
// Usage: node scripts/diff-templates.js BEFORE_DIR AFTER_DIR. Prints each difference and exits
// 1 when there is one.
const fs = require('fs');
const path = require('path');

const [before, after] = process.argv.slice(2);
if (!before || !after) {
  console.error('usage: diff-templates.js BEFORE_DIR AFTER_DIR');
  process.exit(2);
}

/** A 64-hex asset hash, wherever it appears in a string. */
const ASSET_HASH = /[0-9a-f]{64}/g;
/** The hash suffix CDK gives a function's current version (it hashes the code's asset). */
const VERSION_ID = /CurrentVersion[0-9A-F]{8}[0-9a-f]{32}$/;

function mask(value) {
  if (typeof value === 'string') return value.replace(ASSET_HASH, '<asset-hash>');
  if (Array.isArray(value)) return value.map(mask);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [maskId(k), mask(v)]));
  }
  return value;
}

function maskId(id) {
  return id.replace(VERSION_ID, 'CurrentVersion<hash>');
}

function templates(dir) {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => [f, mask(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))]),
  );
}

/** Every path where two JSON values differ. */
function differences(a, b, at, out) {
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  const objects = a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (!objects) {
    out.push(`${at}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
    return out;
  }
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(key in a)) out.push(`${at}/${key}: added`);
    else if (!(key in b)) out.push(`${at}/${key}: removed`);
    else differences(a[key], b[key], `${at}/${key}`, out);
  }
  return out;
}

const a = templates(before);
const b = templates(after);
const found = differences(a, b, '', []);
const resources = Object.values(b).reduce((n, t) => n + Object.keys(t.Resources ?? {}).length, 0);
for (const line of found) console.log(line);
const templateCount = Object.keys(b).length;
console.log(`${before} -> ${after}: ${templateCount} templates, ${resources} resources, ${found.length} differences`);
process.exit(found.length === 0 ? 0 : 1);
