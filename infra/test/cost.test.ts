// The priced resources (lib/cost.ts, which docs/scaling.md's cost section mirrors) against the
// resource types the templates create, in every configuration that changes the bill.
import { StackConfig } from '../lib/config';
import { PRICED_RESOURCES, UNPRICED_RESOURCE_TYPES } from '../lib/cost';
import { Synthesized, synth } from './helpers';

const VARIANTS: [string, Record<string, string>][] = [
  ['public, iam', {}],
  ['public, secret', { dbAuth: 'secret' }],
  ['vpc, iam', { mode: 'vpc' }],
  ['vpc, secret, proxy', { mode: 'vpc', dbAuth: 'secret', proxy: 'true' }],
  ['aurora, public', { engine: 'aurora-mysql' }],
  ['aurora, vpc, auto-pause, a reader, proxy off', { engine: 'aurora-mysql', mode: 'vpc', minCapacity: '0', auroraReaders: '1' }],
  ['aurora, vpc, proxy', { engine: 'aurora-mysql', mode: 'vpc', proxy: 'true' }],
  ['no Function URL (eu-central-2)', { region: 'eu-central-2' }],
  ['public, iam, retention', { retentionDays: '30' }],
  ['vpc, secret, retention, archive', { mode: 'vpc', dbAuth: 'secret', retentionDays: '30', archive: 'true' }],
];

const typesOf = (s: Synthesized) => new Set(Object.values(s.json.Resources).map((r) => r.Type));
const synthesized = new Map(VARIANTS.map(([name, context]) => [name, synth(context)]));

describe.each(VARIANTS)('%s', (name) => {
  const s = synthesized.get(name) as Synthesized;
  const config: StackConfig = s.stack.config;
  const types = typesOf(s);

  // Each priced type exists exactly where the list says it bills, and every other type the
  // template creates is one the list says bills nothing of its own: a resource added, moved
  // between modes or priced wrong fails here. The KMS key (the alarm topic's) is in both modes.
  // https://aws.amazon.com/kms/pricing/ ("Each AWS KMS key that you create in AWS KMS costs $1/month")
  test('every priced resource type is created where the cost list says, and only there', () => {
    for (const priced of PRICED_RESOURCES) {
      expect({ type: priced.type, created: types.has(priced.type) }).toEqual({ type: priced.type, created: priced.when(config) });
      expect(priced.pricing).toMatch(/^https:\/\/aws\.amazon\.com\//);
    }
    const priced = new Set(PRICED_RESOURCES.map((p) => p.type));
    for (const type of types) {
      expect({ type, listed: priced.has(type) || type in UNPRICED_RESOURCE_TYPES }).toEqual({ type, listed: true });
    }
    expect(types.has('AWS::KMS::Key')).toBe(true);
  });

  // A type billed per resource (a secret-month each) is created as many times as the list says:
  // a secret added or dropped in a mode fails here, not only a type appearing or going.
  // https://aws.amazon.com/secrets-manager/pricing/ (each secret is billed per month)
  test('each type billed per resource is created as many times as the cost list counts', () => {
    const counted = PRICED_RESOURCES.filter((p) => p.count !== undefined);
    expect(counted.map((p) => p.type)).toContain('AWS::SecretsManager::Secret');
    for (const priced of counted) {
      const created = Object.values(s.json.Resources).filter((r) => r.Type === priced.type).length;
      expect({ type: priced.type, created }).toEqual({ type: priced.type, created: priced.count?.(config) });
    }
    // The secrets by name: the admin's always; ingest-fn's and the reader's with dbAuth=secret,
    // and ingest-expire's with it when retentionDays is set.
    const users = Object.values(s.json.Resources)
      .filter((r) => r.Type === 'AWS::SecretsManager::Secret')
      .map((r) => JSON.parse(r.Properties.GenerateSecretString.SecretStringTemplate).username)
      .sort();
    const passwords = ['ingest_fn_pw', 'ingest_reader_pw', ...(config.retention ? ['ingest_expire_pw'] : [])].sort();
    expect(users).toEqual(config.dbAuth === 'secret' ? ['admin', ...passwords].sort() : ['admin']);
  });
});

test('no type is both priced and free, and the free list names nothing the templates never create', () => {
  const priced = PRICED_RESOURCES.map((p) => p.type);
  expect(new Set(priced).size).toBe(priced.length);
  for (const type of priced) expect(UNPRICED_RESOURCE_TYPES[type]).toBeUndefined();
  const seen = new Set<string>();
  for (const s of synthesized.values()) for (const t of typesOf(s)) seen.add(t);
  for (const type of Object.keys(UNPRICED_RESOURCE_TYPES)) expect({ type, seen: seen.has(type) }).toEqual({ type, seen: true });
});
