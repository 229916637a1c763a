// Which CDK context keys the app takes. Context reaches the app merged from `-c key=value`,
// cdk.json, cdk.context.json and ~/.cdk.json, so a misspelled `-c ingestConcurency=5` would
// otherwise be one more key nobody reads, and the stack would deploy the default in silence.
// https://docs.aws.amazon.com/cdk/v2/guide/context.html

import { ConfigError } from './context-values';
import { ENGINE_SETTINGS } from './engine-config';

/** Every setting the app reads (config.ts, engine-config.ts, app.ts), and nothing else. */
export const KNOWN_SETTINGS: readonly string[] = [
  // app.ts
  'region',
  'account',
  'stackName',
  // config.ts
  'mode',
  'dbAuth',
  'securityGroupPoolSize',
  'securityGroupsPerInterface',
  'rulesPerGroup',
  'syncSchedule',
  'dbReservedConnections',
  'dbPoolMax',
  'proxy',
  'proxyMaxConnectionsPercent',
  'lambdaConcurrencyQuota',
  'ingestConcurrency',
  'protectDatabase',
  'instanceType',
  'mysqlVersion',
  'backupRetentionDays',
  'backupWindow',
  'maintenanceWindow',
  'caBundle',
  'architecture',
  'alarmEmail',
  'metricsNamespace',
  'fenceAllowedCidrs',
  'retentionDays',
  'archive',
  // engine-config.ts
  ...ENGINE_SETTINGS,
];

/** Keys the CDK and its CLI set or read, which the app passes through untouched:
 *  - feature flags, `@aws-cdk/<module>:<flag>` (the context page: "AWS CDK feature flags are also
 *    context values");
 *  - `aws:cdk:…`, which the CLI injects (path metadata, version reporting, bundling-stacks) and
 *    the app itself sets (`aws:cdk:bundling-stacks` with SKIP_BUNDLING=1);
 *  - context lookups cached in cdk.context.json, `<provider>:<query>`, whose key carries the
 *    account and region, as the page's example `availability-zones:account=123456789012:region=eu-central-1`;
 *  - `acknowledged-issue-numbers`, the notices the CLI was told to stop showing. */
export function isCdkKey(key: string): boolean {
  if (key === 'acknowledged-issue-numbers') return true;
  if (key.startsWith('@aws-cdk/') || key.startsWith('aws:cdk:')) return true;
  // A lookup's key: a lower-case provider name, a colon, its query.
  return /^[a-z][a-z0-9-]*:.+/.test(key);
}

/** Edit distance between two keys, case-insensitive (a wrong capital is a typo too). */
export function editDistance(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[y.length];
}

/** The known setting nearest to `key`. */
export function nearestSetting(key: string): string {
  let best = KNOWN_SETTINGS[0];
  for (const s of KNOWN_SETTINGS) if (editDistance(key, s) < editDistance(key, best)) best = s;
  return best;
}

/** Refuses the first context key that is neither a setting of the app, nor one the CDK owns, nor
 *  declared in cdk.json (`declared`), naming the nearest setting. */
export function checkContextKeys(context: Record<string, unknown>, declared: Iterable<string> = []): void {
  const allowed = new Set([...KNOWN_SETTINGS, ...declared]);
  for (const [key, value] of Object.entries(context)) {
    if (allowed.has(key) || isCdkKey(key)) continue;
    throw new ConfigError(
      key,
      value,
      `not a setting of this app, so it would change nothing; did you mean ${nearestSetting(key)}? ` +
        '(every setting: docs/deploying.md)',
    );
  }
}
