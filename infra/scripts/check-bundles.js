// Checks a bundled cloud assembly: each Rust function's asset holds an executable `bootstrap`
// built for the expected machine, and there are as many as expected (3 by default; 4 with
// retentionDays, whose ingest-expire is one more). Usage:
// node check-bundles.js CDK_OUT arm64|x86_64 [COUNT]
const fs = require('fs');
const path = require('path');

const [outdir, arch, count] = process.argv.slice(2);
const expected = count === undefined ? 3 : Number(count);
const machine = { arm64: 0xb7, x86_64: 0x3e }[arch];
if (!outdir || machine === undefined || !Number.isInteger(expected)) {
  console.error('usage: check-bundles.js CDK_OUT arm64|x86_64 [COUNT]');
  process.exit(2);
}
const template = JSON.parse(fs.readFileSync(path.join(outdir, 'LambdaRdsIngest.template.json'), 'utf8'));
const rust = Object.entries(template.Resources).filter(
  ([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'bootstrap',
);
let problems = 0;
for (const [id, r] of rust) {
  const asset = r.Metadata?.['aws:asset:path'];
  const file = asset && path.join(outdir, asset, 'bootstrap');
  if (!file || !fs.existsSync(file)) {
    console.error(`${id}: no bootstrap in its asset (${asset})`);
    problems++;
    continue;
  }
  const head = fs.readFileSync(file).subarray(0, 20);
  const elf = head.subarray(0, 4).toString('latin1') === '\x7fELF';
  const got = head.readUInt16LE(18);
  if (!elf || got !== machine) {
    console.error(`${id}: bootstrap is not an ${arch} ELF executable (e_machine 0x${got.toString(16)})`);
    problems++;
  } else {
    const size = fs.statSync(file).size;
    console.log(`${id}: ${arch} bootstrap, ${(size / 1048576).toFixed(1)} MiB`);
  }
}
if (rust.length !== expected) {
  console.error(`expected ${expected} Rust functions, found ${rust.length}`);
  problems++;
}
process.exit(problems ? 1 : 0);
