// What the stack knows about Aurora MySQL 3, each rule with AWS's page: the pinned versions and
// their end of standard support, the Serverless v2 capacity range, the max_connections Aurora
// derives from the maximum capacity, the resume time of a paused instance, and what the
// aurora-mysql8.0 parameter groups accept for every parameter the stack sets.

import { ParameterRule, PinnedMinor, findPinnedMinor, ruleProblem } from './engine-support';

/** Aurora MySQL's release calendar: each minor's "end of standard support". */
export const AURORA_MYSQL_VERSIONS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/AuroraMySQL.release-calendars.html';
/** Aurora MySQL's long-term support releases: "Database clusters that use LTS releases can stay on
 *  the same minor version for at least three years, or until end of standard support for the
 *  major version, whichever comes first." The current LTS releases: 3.10.* and 3.04.*. */
export const AURORA_LTS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Update.SpecialVersions.html';
/** Aurora's major versions and their end of standard support (Aurora's own, not RDS for MySQL's). */
export const AURORA_MAJOR_VERSIONS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.VersionPolicy.Versioning.html#Aurora.VersionPolicy.MajorVersions';

/** The LTS rule: three years from the LTS minor's first release, or the major version's end of
 *  standard support, whichever comes first (UTC dates, yyyy-mm-dd). */
export function ltsEndOfStandardSupport(firstRelease: string, majorEnd?: string): string {
  const [y, m, d] = firstRelease.split('-').map(Number);
  const threeYears = new Date(Date.UTC(y + 3, m - 1, d)).toISOString().slice(0, 10);
  return majorEnd !== undefined && majorEnd < threeYears ? majorEnd : threeYears;
}

/** A pinned minor as for RDS MySQL: `version` is the Aurora version (the engine version is
 *  `8.0.mysql_aurora.<version>`), `endOfStandardSupport` Aurora's own date. */
export type AuroraPinnedMinor = PinnedMinor;

/** Aurora MySQL 3.10.0's release: "Aurora MySQL version 3.10.0 is available ... July 31, 2025"
 *  (Document history for the Aurora MySQL Release Notes). */
const AURORA_310_FIRST_RELEASE = '2025-07-31';
/** Aurora MySQL version 3's end of standard support: the major versions table
 *  (AURORA_MAJOR_VERSIONS_PAGE) was not at hand when this was written, so it is left unset and the
 *  LTS date below is the three-year one; set it from the table (or `aws rds
 *  describe-db-major-engine-versions --engine aurora-mysql`) and the date follows the rule. */
const AURORA_MYSQL_3_END_OF_STANDARD_SUPPORT: string | undefined = undefined;

/** The Aurora MySQL versions `auroraVersion` may pin, newest first. RDS for MySQL's dates (8.0's
 *  standard support ended 31 July 2026) do not apply to them. */
export const AURORA_PINNED_MINORS: readonly AuroraPinnedMinor[] = [
  {
    // 3.10 is an LTS release (AURORA_LTS_PAGE: "Aurora MySQL version 3.10.*"); 3.10.4 is its
    // newest patch this aws-cdk-lib knows (AuroraMysqlEngineVersion.VER_3_10_4).
    version: '3.10.4',
    endOfStandardSupport: ltsEndOfStandardSupport(AURORA_310_FIRST_RELEASE, AURORA_MYSQL_3_END_OF_STANDARD_SUPPORT),
    // AURORA_LTS_PAGE: "When a DB cluster that's on an LTS release is required to upgrade, Aurora
    // upgrades it to the next LTS release."
    afterEnd: 'Aurora upgrades the cluster to the next LTS release, a restart of every instance',
    source:
      `${AURORA_LTS_PAGE} (LTS: three years from 3.10.0, ${AURORA_310_FIRST_RELEASE}, or Aurora MySQL 3's end ` +
      `of standard support if sooner, which is not entered yet: ${AURORA_MAJOR_VERSIONS_PAGE})`,
  },
];

export const DEFAULT_AURORA_VERSION = AURORA_PINNED_MINORS[0].version;

export function auroraPinnedMinor(version: string): AuroraPinnedMinor | undefined {
  return findPinnedMinor(AURORA_PINNED_MINORS, version);
}

/** Orders two Aurora versions (`3.10.4`), numerically by part. */
export function compareAuroraVersions(a: string, b: string): number {
  const [pa, pb] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const SERVERLESS_V2_SCALING_API =
  'https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html';

/** ServerlessV2ScalingConfiguration: "half-step increments"; MinCapacity "the smallest value ...
 *  is 0" where auto-pause is supported (else 0.5); MaxCapacity "The largest value ... is 256 for
 *  recent Aurora versions"; SecondsUntilAutoPause "between 300 seconds (five minutes) and 86,400
 *  seconds (one day). The default is 300 seconds." The maximum "must be higher than 0.5 ACUs ...
 *  Use a value of 1 or higher" (aurora-serverless-v2.setting-capacity.html). */
export const SERVERLESS_V2_CAPACITY = {
  min: 0,
  minOfMax: 1,
  max: 256,
  autoPauseMin: 300,
  autoPauseMax: 86_400,
  autoPauseDefault: 300,
  source: SERVERLESS_V2_SCALING_API,
} as const;

/** The first Aurora MySQL version with auto-pause (a minimum of 0 ACUs): 3.08.0, per "Aurora
 *  Serverless v2 capacity" (engine versions where 0 ACUs is available).
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.how-it-works.html#aurora-serverless-v2.how-it-works.capacity */
export const AURORA_AUTO_PAUSE_MIN_VERSION = '3.08.0';

/** AWS's auto-pause page, whose sections the rules below quote. */
export const AURORA_AUTO_PAUSE_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html';

/** What keeps an instance from pausing ("Situations where Aurora Serverless v2 doesn't
 *  auto-pause"): "If any user-initiated connections are open to an Aurora Serverless v2 instance,
 *  the instance won't pause", and "If your Aurora cluster has an associated RDS Proxy, the proxy
 *  maintains an open connection to each DB instance in the cluster." */
export const AURORA_AUTO_PAUSE_PREREQUISITES = `${AURORA_AUTO_PAUSE_PAGE}#auto-pause-whynot`;

/** What wakes a paused instance ("Resuming an auto-paused Aurora Serverless v2 instance"): "When
 *  you connect to a paused Aurora Serverless v2 instance, it automatically resumes and accepts the
 *  connection", and "A connection attempt that doesn't include valid credentials still causes the
 *  DB instance to resume." */
export const AURORA_AUTO_PAUSE_RESUME = `${AURORA_AUTO_PAUSE_PAGE}#auto-pause-waking`;

/** How long a paused instance takes to take the first connection ("What happens when auto-paused
 *  Aurora Serverless v2 instances resume"): "the typical time to resume might be approximately 15
 *  seconds"; "If an Aurora Serverless v2 instance remains paused more than 24 hours, Aurora can put
 *  the instance into a deeper sleep that takes longer to resume. In that case, the resume time can
 *  be 30 seconds or longer, roughly equivalent to doing a reboot of the instance. If your database
 *  has periods of inactivity that last longer than a day, we recommend setting connection timeouts
 *  to 30 seconds or more." And on retries: "We recommend implementing retry logic for connections
 *  to Aurora clusters that have some Aurora Serverless v2 instances with auto-pause enabled. For
 *  example, you might retry any failed connection three times." A stack that takes events from
 *  anywhere cannot promise a pause under a day (autoPauseSeconds reaches 86,400 itself), so the
 *  connect timeout follows the deeper sleep. */
export const AURORA_RESUME_SECONDS = {
  seconds: 15,
  afterADaySeconds: 30,
  recommendedConnectTimeoutSeconds: 30,
  source: `${AURORA_AUTO_PAUSE_PAGE}#auto-pause-resuming`,
  page: AURORA_AUTO_PAUSE_PAGE,
} as const;

/** "Maximum connections for Aurora Serverless v2": Aurora holds max_connections constant at the
 *  value its formula gives for the memory of the maximum ACUs; the table's Aurora MySQL column
 *  (maximum ACUs -> default max_connections). */
export const SERVERLESS_V2_MAX_CONNECTIONS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.max-connections';
export const SERVERLESS_V2_MAX_CONNECTIONS: readonly (readonly [number, number])[] = [
  [1, 90],
  [4, 135],
  [8, 1000],
  [16, 2000],
  [32, 3000],
  [64, 4000],
  [128, 5000],
];

/** The default max_connections of a Serverless v2 instance whose maximum is `maxAcu`: the
 *  table's row at or below it. Between rows (and above 128) this is a lower bound, since the
 *  formula grows with memory: the arithmetic never counts on connections Aurora may not give. */
export function serverlessV2DefaultMaxConnections(maxAcu: number): number {
  let value = SERVERLESS_V2_MAX_CONNECTIONS[0][1];
  for (const [acu, connections] of SERVERLESS_V2_MAX_CONNECTIONS) if (acu <= maxAcu) value = connections;
  return value;
}

/** "setting a larger value for the max_connections parameter ... up to 16,000".
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Managing.Performance.html#AuroraMySQL.Managing.MaxConnections */
export const AURORA_MAX_CONNECTIONS_LIMIT = 16_000;

const AURORA_PARAMETERS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Reference.ParameterGroups.html';
const AURORA_LOGS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Integrating.CloudWatch.html';

/** The cluster-level parameters the stack sets (aurora-mysql8.0 DB cluster parameter group). */
export const AURORA_MYSQL_80_CLUSTER_PARAMETERS: Readonly<Record<string, ParameterRule>> = {
  // "You can require that all user connections to your Aurora MySQL DB cluster use SSL/TLS by
  // using the require_secure_transport DB cluster parameter. By default ... OFF. You can set
  // ... to ON ... You don't need to reboot ... The parameter isn't available in DB instance
  // parameter groups." ON/OFF, where the RDS MySQL instance group takes 0/1.
  require_secure_transport: {
    applyType: 'dynamic',
    allowed: ['ON', 'OFF'],
    source: 'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Security.html#AuroraMySQL.Security.SSL.RequireSSL',
  },
};

/** The instance-level parameters the stack sets (aurora-mysql8.0 DB parameter group): the
 *  "Instance-level parameters" table lists each as modifiable. */
export const AURORA_MYSQL_80_INSTANCE_PARAMETERS: Readonly<Record<string, ParameterRule>> = {
  // "max_connections is a static parameter for Aurora Serverless v2": a change waits for a
  // reboot (CloudFormation reboots nothing), set at creation it applies from the start.
  max_connections: {
    applyType: 'static',
    allowed: { min: 1, max: AURORA_MAX_CONNECTIONS_LIMIT },
    source: SERVERLESS_V2_MAX_CONNECTIONS_PAGE,
  },
  // "Aurora evaluates the minimum value of interactive_timeout and wait_timeout" (default
  // interactive_timeout 28800, so wait_timeout rules).
  wait_timeout: {
    applyType: 'dynamic',
    allowed: { min: 1, max: 31536000 },
    source: `${AURORA_PARAMETERS_PAGE}#AuroraMySQL.Reference.Parameters.Instance`,
  },
  slow_query_log: { applyType: 'dynamic', allowed: ['0', '1'], source: AURORA_LOGS_PAGE },
  long_query_time: {
    applyType: 'dynamic',
    allowed: { min: 0, max: 31536000 },
    source: `${AURORA_PARAMETERS_PAGE}#AuroraMySQL.Reference.Parameters.Instance`,
  },
  // The slow query log reaches CloudWatch Logs only from a file: "log_output ... FILE".
  log_output: { applyType: 'dynamic', allowed: ['TABLE', 'FILE', 'NONE'], source: AURORA_LOGS_PAGE },
};

/** The log types an Aurora MySQL cluster exports (CreateDBCluster `EnableCloudwatchLogsExports`:
 *  "Aurora MySQL - audit | error | general | instance | slowquery | iam-db-auth-error").
 *  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html */
export const AURORA_MYSQL_LOG_EXPORTS = ['audit', 'error', 'general', 'iam-db-auth-error', 'instance', 'slowquery'];

/** Why a value is not one the aurora-mysql8.0 group accepts, or undefined when it is. */
export function auroraParameterProblem(level: 'cluster' | 'instance', name: string, value: string): string | undefined {
  const table = level === 'cluster' ? AURORA_MYSQL_80_CLUSTER_PARAMETERS : AURORA_MYSQL_80_INSTANCE_PARAMETERS;
  const rule = table[name];
  if (!rule) return `${name} is not a ${level}-level parameter the stack knows (add it with its AWS source)`;
  return ruleProblem(rule, name, value);
}
