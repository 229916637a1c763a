// The `engine` setting and what follows from it: RDS MySQL (the default, one instance) or Aurora
// MySQL 3 (a cluster, Serverless v2 unless a provisioned class is chosen), the max_connections the
// connection arithmetic of config.ts uses, and the connect timeout a paused cluster needs.

import { ConfigError, Lookup, given, integer, oneOf, optional } from './context-values';
import {
  AURORA_AUTO_PAUSE_MIN_VERSION,
  AURORA_MAX_CONNECTIONS_LIMIT,
  AURORA_RESUME_SECONDS,
  DEFAULT_AURORA_VERSION,
  SERVERLESS_V2_CAPACITY,
  compareAuroraVersions,
  serverlessV2DefaultMaxConnections,
} from './aurora-support';

export type Engine = 'mysql' | 'aurora-mysql';

/** The Aurora cluster's shape (`engine=aurora-mysql`). */
export interface AuroraConfig {
  /** Aurora MySQL version, e.g. 3.10.4 (engine version 8.0.mysql_aurora.3.10.4). */
  readonly version: string;
  /** `serverless` (db.serverless, the default) or a provisioned class such as r7g.large. */
  readonly instanceClass: 'serverless' | string;
  /** Serverless v2 capacity range in ACUs; 0 as the minimum lets the instances pause. */
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Seconds without a user connection before a paused-capable instance pauses (minCapacity 0). */
  readonly secondsUntilAutoPause?: number;
  /** Readers besides the one writer, 0 to 15. */
  readonly readers: number;
  /** Whether the stack writes max_connections into the instances' parameter group; when not,
   *  Aurora derives it from maxCapacity and the arithmetic uses AWS's documented default. */
  readonly maxConnectionsSet: boolean;
}

export interface EngineSettings {
  readonly engine: Engine;
  readonly aurora?: AuroraConfig;
  /** The max_connections the connection arithmetic uses (config.ts's dbMaxConnections): the
   *  configured value, or the lower dbMaxConnectionsApplied while a reboot is pending. */
  readonly maxConnections: number;
  /** The max_connections the parameter group (or Aurora, from maxCapacity) gives the instances
   *  once they run with it. */
  readonly configuredMaxConnections: number;
  /** dbMaxConnectionsApplied: the max_connections the running server has, as its operator states
   *  it (Aurora only: a static parameter there). */
  readonly appliedMaxConnections?: number;
  /** How messages name it: `dbMaxConnections 100`, or where Aurora's default comes from. */
  readonly maxConnectionsLabel: string;
  /** DB_CONNECT_TIMEOUT_MS for ingest-fn and migrate; unset keeps ingest-fn's own default. */
  readonly connectTimeoutMs?: number;
}

/** ingest-fn's own default (DB_CONNECT_TIMEOUT_MS unset, ingest-fn/src/config.rs). */
export const INGEST_DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
/** ingest-fn's write timeout default (DB_WRITE_TIMEOUT_MS unset, ingest-fn/src/config.rs). */
export const INGEST_DEFAULT_WRITE_TIMEOUT_MS = 5_000;
/** The longest DB_CONNECT_TIMEOUT_MS ingest-fn takes (config.rs `millis`: 10 ms to a minute). */
export const INGEST_MAX_CONNECT_TIMEOUT_MS = 60_000;
/** Attempts one write may make: ingest-fn's store tries again once after a lost connection (a
 *  connect timeout counts as one) and once after a refused login (ingest-fn/src/store/mysql.rs,
 *  `insert`), each attempt a connect within DB_CONNECT_TIMEOUT_MS and a write within
 *  DB_WRITE_TIMEOUT_MS. */
export const INGEST_WRITE_ATTEMPTS = 3;
/** Room in ingest-fn's timeout beyond its attempts: signing an IAM token or reading a secret again
 *  after a refused login, and the response. */
export const INGEST_TIMEOUT_MARGIN_MS = 5_000;
/** ingest-fn's Lambda timeout when its attempts fit in it (the stack's value before issue 28). */
export const INGEST_MIN_FUNCTION_TIMEOUT_MS = 30_000;
/** The connect timeout synth sets when the cluster may pause: AWS's "connection timeouts to 30
 *  seconds or more" for a pause longer than a day (AURORA_RESUME_SECONDS). */
export const PAUSED_CONNECT_TIMEOUT_MS = AURORA_RESUME_SECONDS.recommendedConnectTimeoutSeconds * 1000;

/** ingest-fn's Lambda timeout for a connect timeout (ingest-fn's default when unset): every attempt
 *  of one write with its connect and its write, and the margin, in whole seconds, never below
 *  INGEST_MIN_FUNCTION_TIMEOUT_MS. Lambda stops the invocation at its timeout, so a timeout
 *  shorter than the attempts would cut the retry AWS recommends for a resuming cluster. */
export function ingestFunctionTimeoutMs(connectTimeoutMs: number | undefined): number {
  const connect = connectTimeoutMs ?? INGEST_DEFAULT_CONNECT_TIMEOUT_MS;
  const attempts = INGEST_WRITE_ATTEMPTS * (connect + INGEST_DEFAULT_WRITE_TIMEOUT_MS) + INGEST_TIMEOUT_MARGIN_MS;
  return Math.max(INGEST_MIN_FUNCTION_TIMEOUT_MS, Math.ceil(attempts / 1000) * 1000);
}

/** An ACU value: a number in half-step increments. */
function capacity(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const value = optional(get, key) ?? String(fallback);
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(key, value, 'expected a number of ACUs, e.g. 0.5 or 4');
  const n = Number(value);
  if (n < min || n > max || !Number.isInteger(n * 2)) {
    throw new ConfigError(key, value, `expected ${min} to ${max} ACUs in steps of 0.5 (${SERVERLESS_V2_CAPACITY.source})`);
  }
  return n;
}

/** Settings only an Aurora cluster reads: given with engine=mysql, they would be ignored. */
export const AURORA_ONLY_SETTINGS: readonly string[] = [
  'auroraVersion',
  'auroraInstanceClass',
  'minCapacity',
  'maxCapacity',
  'auroraReaders',
  'autoPauseSeconds',
  'dbMaxConnectionsApplied',
];
/** Settings only an RDS MySQL instance reads (config.ts reads them): given with
 *  engine=aurora-mysql, they would be ignored. */
export const MYSQL_ONLY_SETTINGS: readonly string[] = ['mysqlVersion', 'instanceType'];
/** Every setting engineSettings reads for itself (context-keys.ts lists them among the app's). */
export const ENGINE_SETTINGS: readonly string[] = [
  'engine',
  ...AURORA_ONLY_SETTINGS,
  'dbMaxConnections',
  'dbConnectTimeoutMs',
];

/** `engine` and the settings that depend on it. */
export function engineSettings(get: Lookup): EngineSettings {
  const engine = oneOf<Engine>(get, 'engine', ['mysql', 'aurora-mysql'], 'mysql');
  const foreign = (engine === 'mysql' ? AURORA_ONLY_SETTINGS : MYSQL_ONLY_SETTINGS).find((k) => given(get, k));
  if (foreign) {
    throw new ConfigError(
      foreign,
      optional(get, foreign),
      `applies only to engine=${engine === 'mysql' ? 'aurora-mysql' : 'mysql'}, and engine is ${engine}` +
        (foreign === 'instanceType' ? ' (a provisioned Aurora class is auroraInstanceClass, e.g. r7g.large)' : '') +
        (foreign === 'dbMaxConnectionsApplied'
          ? ' (RDS MySQL applies max_connections without a reboot: it is dynamic in the mysql8.4 group)'
          : ''),
    );
  }
  const explicitTimeout = optional(get, 'dbConnectTimeoutMs');
  if (engine === 'mysql') {
    const maxConnections = integer(get, 'dbMaxConnections', 100, 10, 16000);
    const connectTimeoutMs = connectTimeout(get, explicitTimeout, false);
    return {
      engine,
      maxConnections,
      configuredMaxConnections: maxConnections,
      maxConnectionsLabel: `dbMaxConnections ${maxConnections}`,
      connectTimeoutMs,
    };
  }
  const version = optional(get, 'auroraVersion') ?? DEFAULT_AURORA_VERSION;
  if (!/^3\.\d\d\.\d+$/.test(version)) {
    throw new ConfigError('auroraVersion', version, 'expected a pinned Aurora MySQL 3 version, e.g. 3.10.4');
  }
  const instanceClass = optional(get, 'auroraInstanceClass') ?? 'serverless';
  if (instanceClass !== 'serverless' && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceClass)) {
    throw new ConfigError('auroraInstanceClass', instanceClass, 'expected serverless or CLASS.SIZE, e.g. r7g.large');
  }
  const serverless = instanceClass === 'serverless';
  const readers = integer(get, 'auroraReaders', 0, 0, 15);
  // A provisioned cluster has no capacity range (CDK writes none without a db.serverless
  // instance): its settings would be ignored.
  const capacityKey = ['minCapacity', 'maxCapacity', 'autoPauseSeconds'].find((k) => given(get, k));
  if (!serverless && capacityKey) {
    throw new ConfigError(capacityKey, optional(get, capacityKey), `applies only to auroraInstanceClass=serverless, and it is ${instanceClass}`);
  }
  const minCapacity = capacity(get, 'minCapacity', 0.5, SERVERLESS_V2_CAPACITY.min, SERVERLESS_V2_CAPACITY.max);
  const maxCapacity = capacity(get, 'maxCapacity', 4, SERVERLESS_V2_CAPACITY.minOfMax, SERVERLESS_V2_CAPACITY.max);
  if (maxCapacity < minCapacity) {
    throw new ConfigError('maxCapacity', String(maxCapacity), `below minCapacity ${minCapacity}; the maximum must be at least the minimum`);
  }
  const pauses = serverless && minCapacity === 0;
  if (pauses && compareAuroraVersions(version, AURORA_AUTO_PAUSE_MIN_VERSION) < 0) {
    throw new ConfigError(
      'minCapacity',
      '0',
      `auto-pause (a minimum of 0 ACUs) needs Aurora MySQL ${AURORA_AUTO_PAUSE_MIN_VERSION} or later, and ` +
        `auroraVersion is ${version} (${SERVERLESS_V2_CAPACITY.source})`,
    );
  }
  if (!pauses && given(get, 'autoPauseSeconds')) {
    throw new ConfigError('autoPauseSeconds', optional(get, 'autoPauseSeconds'), 'applies only to a serverless cluster with minCapacity=0');
  }
  const secondsUntilAutoPause = pauses
    ? integer(get, 'autoPauseSeconds', SERVERLESS_V2_CAPACITY.autoPauseDefault, SERVERLESS_V2_CAPACITY.autoPauseMin, SERVERLESS_V2_CAPACITY.autoPauseMax)
    : undefined;
  const maxConnectionsSet = given(get, 'dbMaxConnections') || !serverless;
  let configuredMaxConnections: number;
  let configuredLabel: string;
  if (maxConnectionsSet) {
    configuredMaxConnections = integer(get, 'dbMaxConnections', 100, 10, AURORA_MAX_CONNECTIONS_LIMIT);
    configuredLabel = `dbMaxConnections ${configuredMaxConnections}`;
  } else {
    configuredMaxConnections = serverlessV2DefaultMaxConnections(maxCapacity);
    configuredLabel = `max_connections ${configuredMaxConnections} (Aurora Serverless v2's default at maxCapacity ${maxCapacity} ACUs)`;
  }
  // max_connections is static on Aurora: a new value (a new dbMaxConnections, or a maxCapacity
  // Aurora derives it from) reaches the server, and the proxy's view of it, only at the
  // instances' reboot, while ingest-fn's reserved concurrency changes with the deploy. The
  // arithmetic follows what the running server has when its operator states it, and never more
  // than the configured value (a lower one applies after the reboot too).
  const appliedMaxConnections =
    !given(get, 'dbMaxConnectionsApplied')
      ? undefined
      : integer(get, 'dbMaxConnectionsApplied', configuredMaxConnections, 10, AURORA_MAX_CONNECTIONS_LIMIT);
  const running = appliedMaxConnections !== undefined && appliedMaxConnections < configuredMaxConnections;
  return {
    engine,
    aurora: { version, instanceClass, minCapacity, maxCapacity, secondsUntilAutoPause, readers, maxConnectionsSet },
    maxConnections: running ? appliedMaxConnections : configuredMaxConnections,
    configuredMaxConnections,
    appliedMaxConnections,
    maxConnectionsLabel: running
      ? `max_connections ${appliedMaxConnections} (dbMaxConnectionsApplied: the running cluster's until its reboot; ${configuredLabel} after it)`
      : configuredLabel,
    connectTimeoutMs: connectTimeout(get, explicitTimeout, pauses),
  };
}

/** DB_CONNECT_TIMEOUT_MS: unset unless given, or the cluster may pause. A paused cluster holds
 *  the first connection while it resumes, 30 s or more after a pause longer than a day
 *  (AURORA_RESUME_SECONDS), so the timeout must be at least that; ingest-fn's timeout is sized
 *  from it (ingestFunctionTimeoutMs), up to ingest-fn's own ceiling of a minute. */
function connectTimeout(get: Lookup, explicit: string | undefined, pauses: boolean): number | undefined {
  if (explicit === undefined) return pauses ? PAUSED_CONNECT_TIMEOUT_MS : undefined;
  const ms = integer(get, 'dbConnectTimeoutMs', INGEST_DEFAULT_CONNECT_TIMEOUT_MS, 10, INGEST_MAX_CONNECT_TIMEOUT_MS);
  if (pauses && ms < PAUSED_CONNECT_TIMEOUT_MS) {
    throw new ConfigError(
      'dbConnectTimeoutMs',
      String(ms),
      `minCapacity=0 lets the cluster pause, and after a pause longer than a day the first connection waits ` +
        `${AURORA_RESUME_SECONDS.afterADaySeconds} s or more while it resumes; AWS recommends "connection timeouts ` +
        `to 30 seconds or more" (${AURORA_RESUME_SECONDS.source}); expected ${PAUSED_CONNECT_TIMEOUT_MS} to ` +
        `${INGEST_MAX_CONNECT_TIMEOUT_MS}`,
    );
  }
  return ms;
}
