// The `engine` setting and what follows from it: RDS MySQL (the default, one instance) or Aurora
// MySQL 3 (a cluster, Serverless v2 unless a provisioned class is chosen), the max_connections the
// connection arithmetic of config.ts uses, and the connect timeout a paused cluster needs.

import { ConfigError, Lookup } from './config';
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
  /** The max_connections the connection arithmetic uses (config.ts's dbMaxConnections). */
  readonly maxConnections: number;
  /** How messages name it: `dbMaxConnections 100`, or where Aurora's default comes from. */
  readonly maxConnectionsLabel: string;
  /** DB_CONNECT_TIMEOUT_MS for ingest-fn and migrate; unset keeps ingest-fn's own default. */
  readonly connectTimeoutMs?: number;
}

/** ingest-fn's own default (DB_CONNECT_TIMEOUT_MS unset, ingest-fn/src/config.rs). */
export const INGEST_DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
/** ingest-fn's write timeout default (DB_WRITE_TIMEOUT_MS unset, ingest-fn/src/config.rs). */
export const INGEST_DEFAULT_WRITE_TIMEOUT_MS = 5_000;
/** ingest-fn's Lambda timeout (lib/ingest-function.ts): a connect and a write must fit in it. */
export const INGEST_FUNCTION_TIMEOUT_MS = 30_000;
/** The connect timeout synth sets when the cluster may pause: AWS's resume time plus room for
 *  TLS and the login. */
export const PAUSED_CONNECT_TIMEOUT_MS = 20_000;

function raw(get: Lookup, key: string): string | undefined {
  const v = get(key);
  if (v === undefined || v === null || v === '') return undefined;
  return String(v).trim();
}

/** An ACU value: a number in half-step increments. */
function capacity(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const value = raw(get, key) ?? String(fallback);
  if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(key, value, 'expected a number of ACUs, e.g. 0.5 or 4');
  const n = Number(value);
  if (n < min || n > max || !Number.isInteger(n * 2)) {
    throw new ConfigError(key, value, `expected ${min} to ${max} ACUs in steps of 0.5 (${SERVERLESS_V2_CAPACITY.source})`);
  }
  return n;
}

function whole(get: Lookup, key: string, fallback: number, min: number, max: number): number {
  const value = raw(get, key) ?? String(fallback);
  if (!/^\d+$/.test(value)) throw new ConfigError(key, value, 'expected a whole number');
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(key, value, `expected ${min} to ${max}`);
  return n;
}

/** Settings that belong to one engine only: given with the other, they would be ignored. */
const AURORA_ONLY = ['auroraVersion', 'auroraInstanceClass', 'minCapacity', 'maxCapacity', 'auroraReaders', 'autoPauseSeconds'];
const MYSQL_ONLY = ['mysqlVersion', 'instanceType'];

/** `engine` and the settings that depend on it. */
export function engineSettings(get: Lookup): EngineSettings {
  const engine = raw(get, 'engine') ?? 'mysql';
  if (engine !== 'mysql' && engine !== 'aurora-mysql') {
    throw new ConfigError('engine', engine, 'expected one of mysql, aurora-mysql');
  }
  const foreign = (engine === 'mysql' ? AURORA_ONLY : MYSQL_ONLY).find((k) => raw(get, k) !== undefined);
  if (foreign) {
    throw new ConfigError(
      foreign,
      raw(get, foreign),
      `applies only to engine=${engine === 'mysql' ? 'aurora-mysql' : 'mysql'}, and engine is ${engine}` +
        (foreign === 'instanceType' ? ' (a provisioned Aurora class is auroraInstanceClass, e.g. r7g.large)' : ''),
    );
  }
  const explicitTimeout = raw(get, 'dbConnectTimeoutMs');
  if (engine === 'mysql') {
    const maxConnections = whole(get, 'dbMaxConnections', 100, 10, 16000);
    const connectTimeoutMs = connectTimeout(get, explicitTimeout, false);
    return { engine, maxConnections, maxConnectionsLabel: `dbMaxConnections ${maxConnections}`, connectTimeoutMs };
  }
  const version = raw(get, 'auroraVersion') ?? DEFAULT_AURORA_VERSION;
  if (!/^3\.\d\d\.\d+$/.test(version)) {
    throw new ConfigError('auroraVersion', version, 'expected a pinned Aurora MySQL 3 version, e.g. 3.10.4');
  }
  const instanceClass = raw(get, 'auroraInstanceClass') ?? 'serverless';
  if (instanceClass !== 'serverless' && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceClass)) {
    throw new ConfigError('auroraInstanceClass', instanceClass, 'expected serverless or CLASS.SIZE, e.g. r7g.large');
  }
  const serverless = instanceClass === 'serverless';
  const readers = whole(get, 'auroraReaders', 0, 0, 15);
  // A provisioned cluster has no capacity range (CDK writes none without a db.serverless
  // instance): its settings would be ignored.
  const capacityKey = ['minCapacity', 'maxCapacity', 'autoPauseSeconds'].find((k) => raw(get, k) !== undefined);
  if (!serverless && capacityKey) {
    throw new ConfigError(capacityKey, raw(get, capacityKey), `applies only to auroraInstanceClass=serverless, and it is ${instanceClass}`);
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
  if (!pauses && raw(get, 'autoPauseSeconds') !== undefined) {
    throw new ConfigError('autoPauseSeconds', raw(get, 'autoPauseSeconds'), 'applies only to a serverless cluster with minCapacity=0');
  }
  const secondsUntilAutoPause = pauses
    ? whole(get, 'autoPauseSeconds', SERVERLESS_V2_CAPACITY.autoPauseDefault, SERVERLESS_V2_CAPACITY.autoPauseMin, SERVERLESS_V2_CAPACITY.autoPauseMax)
    : undefined;
  const maxConnectionsSet = raw(get, 'dbMaxConnections') !== undefined || !serverless;
  let maxConnections: number;
  let maxConnectionsLabel: string;
  if (maxConnectionsSet) {
    maxConnections = whole(get, 'dbMaxConnections', 100, 10, AURORA_MAX_CONNECTIONS_LIMIT);
    maxConnectionsLabel = `dbMaxConnections ${maxConnections}`;
  } else {
    maxConnections = serverlessV2DefaultMaxConnections(maxCapacity);
    maxConnectionsLabel = `max_connections ${maxConnections} (Aurora Serverless v2's default at maxCapacity ${maxCapacity} ACUs)`;
  }
  return {
    engine,
    aurora: { version, instanceClass, minCapacity, maxCapacity, secondsUntilAutoPause, readers, maxConnectionsSet },
    maxConnections,
    maxConnectionsLabel,
    connectTimeoutMs: connectTimeout(get, explicitTimeout, pauses),
  };
}

/** DB_CONNECT_TIMEOUT_MS: unset unless given, or the cluster may pause. A paused cluster holds
 *  the first connection while it resumes ("up to 15 seconds", AURORA_RESUME_SECONDS), so the
 *  timeout must outlast that; and a connect plus a write must fit in ingest-fn's 30 s. */
function connectTimeout(get: Lookup, explicit: string | undefined, pauses: boolean): number | undefined {
  const ceiling = INGEST_FUNCTION_TIMEOUT_MS - INGEST_DEFAULT_WRITE_TIMEOUT_MS;
  if (explicit === undefined) return pauses ? PAUSED_CONNECT_TIMEOUT_MS : undefined;
  const ms = whole(get, 'dbConnectTimeoutMs', INGEST_DEFAULT_CONNECT_TIMEOUT_MS, 10, ceiling);
  const resume = AURORA_RESUME_SECONDS.seconds * 1000;
  if (pauses && ms <= resume) {
    throw new ConfigError(
      'dbConnectTimeoutMs',
      String(ms),
      `minCapacity=0 lets the cluster pause, and the first connection waits while it resumes (up to ` +
        `${AURORA_RESUME_SECONDS.seconds} s, ${AURORA_RESUME_SECONDS.source}); expected more than ${resume} ` +
        `(at most ${ceiling}, so that a connect and a write fit in ingest-fn's ${INGEST_FUNCTION_TIMEOUT_MS / 1000} s)`,
    );
  }
  return ms;
}
