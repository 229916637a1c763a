// What the stack knows about Aurora MySQL 3, each rule with AWS's page: the pinned versions and
// their end of standard support, the Serverless v2 capacity range, the max_connections Aurora
// derives from the maximum capacity, the resume time of a paused instance, and what the
// aurora-mysql8.0 parameter groups accept for every parameter the stack sets.

import { ParameterRule, PinnedMinor, findPinnedMinor, ruleProblem } from './engine-support';

/** Aurora MySQL's release calendar: each minor's "end of standard support". */
export const AURORA_MYSQL_VERSIONS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/AuroraMySQL.release-calendars.html';
/** Long-term support: "certain minor versions are designated as long-term-support (LTS)
 *  versions, and made available for at least three years". */
export const AURORA_LTS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.VersionPolicy.MinorVersions.html';

/** A pinned minor as for RDS MySQL: `version` is the Aurora version (the engine version is
 *  `8.0.mysql_aurora.<version>`), `endOfStandardSupport` Aurora's date. */
export type AuroraPinnedMinor = PinnedMinor;

/** The Aurora MySQL versions `auroraVersion` may pin, newest first. */
export const AURORA_PINNED_MINORS: readonly AuroraPinnedMinor[] = [
  {
    // 3.10 is an LTS minor (the 3.10.0 release notes: "This release is designated as a long-term
    // support (LTS) release"), released 31 July 2025; 3.10.4 is its newest patch this
    // aws-cdk-lib knows (AuroraMysqlEngineVersion.VER_3_10_4).
    version: '3.10.4',
    // ESTIMATE, not read from the release calendar: the LTS policy's "at least three years" from
    // 3.10.0's release (2025-07-31). Replace it with the calendar's date (or `aws rds
    // describe-db-engine-versions --engine aurora-mysql`) when it is at hand.
    endOfStandardSupport: '2028-07-31',
    source: `${AURORA_MYSQL_VERSIONS_PAGE} (ESTIMATE from ${AURORA_LTS_PAGE}, to confirm)`,
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

/** What keeps an instance from pausing: connections, and features that hold them, RDS Proxy
 *  among them ("Incompatible with: RDS Proxy, binary logging ..., Global Database (primary),
 *  Zero-ETL" in AWS's aws/agent-toolkit-for-aws summary of this page). */
export const AURORA_AUTO_PAUSE_PREREQUISITES =
  'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-prereqs';

/** How long a paused instance takes to take the first connection: "It can take up to 15
 *  seconds for the database to resume" (AWS Database Blog, Introducing scaling to 0 capacity
 *  with Amazon Aurora Serverless v2). After more than 24 hours paused the resume can take longer
 *  (about 30 s in AWS's own aws/agent-toolkit-for-aws summary of the user guide page). */
export const AURORA_RESUME_SECONDS = {
  seconds: 15,
  afterADaySeconds: 30,
  source: 'https://aws.amazon.com/blogs/database/introducing-scaling-to-0-capacity-with-amazon-aurora-serverless-v2/',
  page: 'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html',
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
