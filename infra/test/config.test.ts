import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildApp, cdkJsonContextKeys } from '../lib/app';
import { loadConfig } from '../lib/config';
import { ConfigError } from '../lib/context-values';
import { KNOWN_SETTINGS, checkContextKeys, isCdkKey, nearestSetting } from '../lib/context-keys';

const config = (values: Record<string, string>) => loadConfig((key) => values[key]);

test('defaults', () => {
  expect(loadConfig(() => undefined, 'ap-northeast-1')).toEqual({
    mode: 'public',
    dbAuth: 'iam',
    securityGroupPoolSize: 3,
    securityGroupsPerInterface: 5,
    rulesPerGroup: 60,
    syncSchedule: 'rate(1 hour)',
    ipSpaceNotifications: true,
    engine: 'mysql',
    dbMaxConnections: 100,
    dbMaxConnectionsConfigured: 100,
    dbMaxConnectionsApplied: undefined,
    dbConnectTimeoutMs: undefined,
    ingestTimeoutSeconds: 30,
    dbReservedConnections: 10,
    dbPoolMax: 1,
    ingestConcurrency: 90,
    lambdaConcurrencyQuota: 1000,
    protectDatabase: true,
    instanceType: 't4g.micro',
    mysqlVersion: '8.4.10',
    backupRetentionDays: 7,
    backupWindow: '17:00-17:30',
    maintenanceWindow: 'sun:18:00-sun:18:30',
    caBundle: undefined,
    architecture: 'arm64',
    alarmEmail: undefined,
    metricsNamespace: 'LambdaRdsIngest',
    functionUrl: true,
    proxy: undefined,
    aurora: undefined,
    fenceAllowedCidrs: [],
    notices: [],
  });
});

describe('fenceAllowedCidrs', () => {
  test('comma-separated (-c) or a list (cdk.json), blanks ignored, IPv4 and IPv6', () => {
    expect(config({ fenceAllowedCidrs: ' 203.0.113.0/24, 2001:db8::/32,,198.51.100.7/32 ' }).fenceAllowedCidrs).toEqual([
      '203.0.113.0/24',
      '2001:db8::/32',
      '198.51.100.7/32',
    ]);
    expect(loadConfig((k) => (k === 'fenceAllowedCidrs' ? ['0.0.0.0/0', '::/0', 'fe80::1/128'] : undefined)).fenceAllowedCidrs).toEqual([
      '0.0.0.0/0',
      '::/0',
      'fe80::1/128',
    ]);
  });

  // As sg-sync-fn's FENCE_ALLOWED_CIDRS parser (sg-sync-fn/src/config.rs) refuses them, naming the entry.
  test.each([
    ['203.0.113.0/24,office', /fenceAllowedCidrs="203.0.113.0\/24,office": "office" is not a CIDR \(expected e.g. 203.0.113.0\/24/],
    ['203.0.113.7', /"203.0.113.7" is not a CIDR/],
    ['203.0.113.0/33', /"203.0.113.0\/33" is not a CIDR/],
    ['256.0.0.0/8', /"256.0.0.0\/8" is not a CIDR/],
    ['2001:db8::/129', /"2001:db8::\/129" is not a CIDR/],
    ['203.0.113.7/24', /"203.0.113.7\/24" has host bits set: did you mean 203.0.113.0\/24\?/],
    ['2001:db8::1/32', /"2001:db8::1\/32" has host bits set: did you mean 2001:db8::\/32\?/],
    ['2001:db8:0:0:1::/64', /has host bits set: did you mean 2001:db8::\/64\?/],
  ])('%s is refused, naming the entry', (value, message) => {
    expect(() => config({ fenceAllowedCidrs: value })).toThrow(ConfigError);
    expect(() => config({ fenceAllowedCidrs: value })).toThrow(message);
  });

  test('a list with anything but strings is refused', () => {
    expect(() => loadConfig((k) => (k === 'fenceAllowedCidrs' ? ['203.0.113.0/24', 7] : undefined))).toThrow(
      /fenceAllowedCidrs=.*expected comma-separated CIDRs or a list of them/,
    );
  });

  test('in the vpc mode, where no sync reads it, a notice says so', () => {
    const c = config({ mode: 'vpc', fenceAllowedCidrs: '203.0.113.0/24' });
    expect(c.notices.map((n) => n.id)).toContain('fence-allowed-cidrs-unused');
    expect(config({ fenceAllowedCidrs: '203.0.113.0/24' }).notices.map((n) => n.id)).not.toContain('fence-allowed-cidrs-unused');
  });
});

test('the concurrency ceiling follows the connection arithmetic', () => {
  expect(config({ dbMaxConnections: '250', dbReservedConnections: '20', dbPoolMax: '2' }).ingestConcurrency).toBe(115);
  expect(config({ ingestConcurrency: '10' }).ingestConcurrency).toBe(10);
});

test.each([
  [{ mode: 'private' }, /context mode="private": expected one of public, vpc/],
  [{ dbAuth: 'password' }, /context dbAuth="password": expected one of iam, secret/],
  [{ securityGroupPoolSize: '0' }, /securityGroupPoolSize="0": expected 1 to 16/],
  [{ securityGroupsPerInterface: '17' }, /securityGroupsPerInterface="17": expected 1 to 16/],
  [{ securityGroupPoolSize: 'three' }, /securityGroupPoolSize="three": expected a whole number/],
  [{ syncSchedule: 'hourly' }, /syncSchedule="hourly": expected rate\(\.\.\.\) or cron\(\.\.\.\)/],
  [{ dbReservedConnections: '100' }, /dbReservedConnections="100": expected 1 to 99/],
  [{ ingestConcurrency: '0' }, /ingestConcurrency="0": expected 1 to/],
  [{ protectDatabase: 'yes' }, /protectDatabase="yes": expected true or false/],
  [{ instanceType: 'db.t4g.micro' }, /instanceType="db.t4g.micro": expected CLASS.SIZE/],
  [{ mysqlVersion: '8.0' }, /mysqlVersion="8.0": expected a pinned 8.0.x or 8.4.x/],
  [{ architecture: 'aarch64' }, /architecture="aarch64": expected one of arm64, x86_64/],
  [{ alarmEmail: 'ops' }, /alarmEmail="ops": expected an email address/],
  [{ metricsNamespace: 'AWS/Lambda' }, /metricsNamespace="AWS\/Lambda": expected up to 255 of .* not starting with AWS\//],
  [{ metricsNamespace: 'ingest{prod}' }, /metricsNamespace="ingest\{prod\}": expected up to 255/],
])('%j is refused, naming the key', (values, message) => {
  expect(() => config(values as Record<string, string>)).toThrow(ConfigError);
  expect(() => config(values as Record<string, string>)).toThrow(message);
});

describe('context keys', () => {
  // Context reaches the app merged from `-c`, cdk.json, cdk.context.json and ~/.cdk.json; the CDK
  // keeps its own keys there too: feature flags ("AWS CDK feature flags are also context values"),
  // the CLI's `aws:cdk:…`, and cached lookups whose keys carry the account and region
  // (`availability-zones:account=123456789012:region=eu-central-1`).
  // https://docs.aws.amazon.com/cdk/v2/guide/context.html
  test('a misspelled -c key is refused, naming the nearest setting', () => {
    expect(() => buildApp({ skipBundling: true, context: { region: 'ap-northeast-1', ingestConcurency: '5' } })).toThrow(
      /context ingestConcurency="5": not a setting of this app, so it would change nothing; did you mean ingestConcurrency\?/,
    );
    expect(nearestSetting('dbmaxconnection')).toBe('dbMaxConnections');
    expect(nearestSetting('Mode')).toBe('mode');
    expect(nearestSetting('minCapcity')).toBe('minCapacity');
    expect(() => checkContextKeys({ protectDatabse: 'false' })).toThrow(/did you mean protectDatabase\?/);
  });

  test('the CDK\'s and the CLI\'s keys, cached lookups, acknowledged notices and cdk.json\'s keys pass', () => {
    expect(() =>
      checkContextKeys({
        '@aws-cdk/core:newStyleStackSynthesis': true,
        '@aws-cdk/aws-lambda:recognizeLayerVersion': true,
        'aws:cdk:enable-path-metadata': true,
        'aws:cdk:version-reporting': false,
        'aws:cdk:bundling-stacks': [],
        'availability-zones:account=123456789012:region=ap-northeast-1': ['ap-northeast-1a'],
        'vpc-provider:account=123456789012:filter.vpc-id=vpc-1:region=eu-west-1:returnAsymmetricSubnets=true': {},
        'acknowledged-issue-numbers': [32775],
        region: 'ap-northeast-1',
        mode: 'vpc',
      }),
    ).not.toThrow();
    // Whatever cdk.json declares passes, read from the file.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk-json-'));
    const file = path.join(dir, 'cdk.json');
    fs.writeFileSync(file, JSON.stringify({ app: 'x', context: { teamTag: 'ops', '@aws-cdk/core:checkSecretUsage': true } }));
    expect(cdkJsonContextKeys(file)).toEqual(['teamTag', '@aws-cdk/core:checkSecretUsage']);
    expect(() => checkContextKeys({ teamTag: 'ops' }, cdkJsonContextKeys(file))).not.toThrow();
    expect(() => checkContextKeys({ teamTag: 'ops' })).toThrow(/context teamTag="ops"/);
    fs.writeFileSync(file, JSON.stringify({ app: 'x' }));
    expect(cdkJsonContextKeys(file)).toEqual([]);
    // ~/.cdk.json, which the CLI merges too, may be absent.
    expect(cdkJsonContextKeys(path.join(dir, 'absent.json'), true)).toEqual([]);
    expect(() => cdkJsonContextKeys(path.join(dir, 'absent.json'))).toThrow(/ENOENT/);
    // The project's own cdk.json: feature flags only today, each passing on its own.
    for (const key of cdkJsonContextKeys()) expect(isCdkKey(key)).toBe(true);
  });

  test('KNOWN_SETTINGS is exactly what the app reads', () => {
    const read = new Set<string>(['region', 'account', 'stackName']); // app.ts
    const record = (values: Record<string, string>) => (key: string) => {
      read.add(key);
      return values[key];
    };
    const configurations: Record<string, string>[] = [
      {},
      { mode: 'vpc', proxy: 'true', dbAuth: 'secret', alarmEmail: 'ops@example.com', caBundle: '' },
      { engine: 'aurora-mysql', mode: 'vpc', minCapacity: '0', autoPauseSeconds: '600', dbMaxConnectionsApplied: '135' },
      { engine: 'aurora-mysql', dbMaxConnections: '400', dbConnectTimeoutMs: '5000' },
    ];
    for (const values of configurations) loadConfig(record(values), 'ap-northeast-1');
    expect([...read].sort()).toEqual([...KNOWN_SETTINGS].sort());
  });
});
