import { ConfigError, loadConfig } from '../lib/config';

const config = (values: Record<string, string>) => loadConfig((key) => values[key]);

test('defaults', () => {
  expect(config({})).toEqual({
    mode: 'public',
    dbAuth: 'iam',
    securityGroupPoolSize: 3,
    securityGroupsPerInterface: 5,
    rulesPerGroup: 60,
    syncSchedule: 'rate(1 hour)',
    ipSpaceNotifications: true,
    engine: 'mysql',
    dbMaxConnections: 100,
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
