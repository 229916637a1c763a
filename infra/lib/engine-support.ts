// What the stack knows about the RDS MySQL engine it pins: how long each pinned minor version
// stays in RDS standard support, and what RDS accepts for every parameter the stack sets.

/** Where AWS publishes the minor versions and their "RDS end of standard support" dates. */
export const MYSQL_VERSIONS_PAGE =
  'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/MySQL.Concepts.VersionMgmt.html';

export interface PinnedMinor {
  readonly version: string;
  /** RDS end of standard support (UTC date). After it RDS refuses new instances of the minor
   *  and upgrades existing ones in their maintenance window. */
  readonly endOfStandardSupport: string;
  /** Where the date comes from, and how exact it is. */
  readonly source: string;
  /** What happens to a database still on it after the date. */
  readonly afterEnd?: string;
}

/** RDS for MySQL, after a minor's end of standard support. */
const MYSQL_MINOR_AFTER_END = 'RDS refuses new instances of it and upgrades running ones in their maintenance window';

/**
 * The minors `mysqlVersion` may pin, newest first. AWS lists a new minor's date as a month
 * until it knows the day; a month-only date is entered as the first day of that month, so CI
 * fails early rather than late. Keep `source` honest about how the date was obtained.
 */
export const PINNED_MINORS: readonly PinnedMinor[] = [
  {
    version: '8.4.10',
    endOfStandardSupport: '2027-07-01',
    afterEnd: MYSQL_MINOR_AFTER_END,
    // Estimated, not read from the page: RDS gives a minor about twelve months of standard
    // support from its RDS release (MySQL 8.4.10: community release July 2026). Replace it with
    // the page's date (or `aws rds describe-db-engine-versions`) when it is at hand.
    source: `${MYSQL_VERSIONS_PAGE}#MySQL.Concepts.VersionMgmt.Supported (estimate, to confirm)`,
  },
];

/** The last day RDS MySQL 8.0 (every minor) had standard support; Extended Support bills after.
 *  RDS for MySQL's date only: Aurora MySQL 3 (MySQL 8.0-compatible) has its own calendar
 *  (aurora-support.ts). https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support.html */
export const MYSQL_80_END_OF_STANDARD_SUPPORT = '2026-07-31';
export const MYSQL_EXTENDED_SUPPORT_PAGE = 'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support.html';

/** How long before a pinned minor's date CI starts failing, so there is time to move. */
export const SUPPORT_WARNING_DAYS = 90;

/** Whole days from `today` until the minor's end of standard support (negative once past). */
export function daysOfStandardSupportLeft(minor: PinnedMinor, today: Date): number {
  const end = Date.parse(`${minor.endOfStandardSupport}T00:00:00Z`);
  const start = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  return Math.floor((end - start) / 86_400_000);
}

export function pinnedMinor(version: string): PinnedMinor | undefined {
  return findPinnedMinor(PINNED_MINORS, version);
}

/** The entry of `version` in either engine's table of pinned minors. */
export function findPinnedMinor<M extends PinnedMinor>(minors: readonly M[], version: string): M | undefined {
  return minors.find((m) => m.version === version);
}

/** When an RDS MySQL minor leaves standard support, from RDS for MySQL's own pages: the table's
 *  date, or for any 8.0 minor the major version's (31 July 2026), undefined for a minor the
 *  stack has no date for. */
export function mysqlStandardSupportEnd(version: string): PinnedMinor | undefined {
  const pinned = pinnedMinor(version);
  if (pinned) return pinned;
  if (/^8\.0\.\d+$/.test(version)) {
    return {
      version,
      endOfStandardSupport: MYSQL_80_END_OF_STANDARD_SUPPORT,
      source: `${MYSQL_EXTENDED_SUPPORT_PAGE} (RDS for MySQL 8.0, every minor)`,
      afterEnd: 'RDS enrolls an 8.0 instance in Extended Support, billed per vCPU-hour on top of the instance',
    };
  }
  return undefined;
}

/** The newest minor of `minors` still in standard support `today`, to pin instead. */
export function replacementMinor(minors: readonly PinnedMinor[], today: Date): PinnedMinor | undefined {
  return minors.find((m) => daysOfStandardSupportLeft(m, today) > 0);
}

/** Why pinning `minor` is refused on `today` (its standard support is over), naming the minor to
 *  pin instead; undefined while it is supported. `label` names the engine ("RDS MySQL"), `key`
 *  the setting that pins it. */
export function supportEndProblem(
  label: string,
  minor: PinnedMinor | undefined,
  replacements: readonly PinnedMinor[],
  today: Date,
): string | undefined {
  if (!minor || daysOfStandardSupportLeft(minor, today) > 0) return undefined;
  const next = replacementMinor(replacements, today);
  const pin = next
    ? `pin ${next.version} instead (standard support to ${next.endOfStandardSupport}, ${next.source})`
    : 'no minor in the stack\'s table is still supported: add the current one with its date';
  return (
    `${label} ${minor.version} left standard support on ${minor.endOfStandardSupport} (${minor.source})` +
    `${minor.afterEnd ? `: ${minor.afterEnd}` : ''}; ${pin}`
  );
}

/** One parameter as RDS stores it for the mysql8.4 family. */
export interface ParameterRule {
  /** `dynamic` applies without a reboot; CloudFormation never reboots an instance for a
   *  parameter group change, so a `static` one would sit in pending-reboot. */
  readonly applyType: 'dynamic' | 'static';
  /** The values RDS accepts: a list, or an inclusive integer range. */
  readonly allowed: readonly string[] | { readonly min: number; readonly max: number };
  /** AWS's page (or MySQL's, which RDS's describe-engine-default-parameters mirrors). */
  readonly source: string;
}

const MYSQL_84_VARIABLES = 'https://dev.mysql.com/doc/refman/8.4/en/server-system-variables.html';
// "Slow query log: ... slow_query_log = 1"; "Log output: ... log_output = FILE".
const RDS_MYSQL_LOGS =
  'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html';

/**
 * Every parameter the stack sets, as the mysql8.4 family takes it. Booleans are `0`/`1`: that
 * is how RDS instance parameter groups store them (`describe-db-parameters` lists
 * `AllowedValues: 0,1`), and a template writing `ON` differs from what RDS reports back.
 */
export const MYSQL_84_PARAMETERS: Readonly<Record<string, ParameterRule>> = {
  // "For MySQL 8.4 and lower ... set the require_secure_transport parameter to 1 (ON) ...
  // You don't need to reboot your DB instance for the change to take effect."
  require_secure_transport: {
    applyType: 'dynamic',
    allowed: ['0', '1'],
    source: 'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-ssl-connections.require-ssl.html',
  },
  max_connections: {
    applyType: 'dynamic',
    allowed: { min: 1, max: 100000 },
    source: `${MYSQL_84_VARIABLES}#sysvar_max_connections`,
  },
  wait_timeout: {
    applyType: 'dynamic',
    allowed: { min: 1, max: 31536000 },
    source: `${MYSQL_84_VARIABLES}#sysvar_wait_timeout`,
  },
  slow_query_log: {
    applyType: 'dynamic',
    allowed: ['0', '1'],
    source: RDS_MYSQL_LOGS,
  },
  long_query_time: {
    applyType: 'dynamic',
    allowed: { min: 0, max: 31536000 },
    source: `${MYSQL_84_VARIABLES}#sysvar_long_query_time`,
  },
  log_output: {
    applyType: 'dynamic',
    allowed: ['TABLE', 'FILE', 'NONE'],
    source: RDS_MYSQL_LOGS,
  },
};

/** Why a value is not one RDS accepts for the parameter, or undefined when it is. */
export function parameterProblem(name: string, value: string): string | undefined {
  const rule = MYSQL_84_PARAMETERS[name];
  if (!rule) return `${name} is not in MYSQL_84_PARAMETERS (add it with its AWS source)`;
  return ruleProblem(rule, name, value);
}

/** Why `value` is not one `rule` allows for `name`, or undefined when it is (either engine's). */
export function ruleProblem(rule: ParameterRule, name: string, value: string): string | undefined {
  if (Array.isArray(rule.allowed)) {
    return rule.allowed.includes(value) ? undefined : `${name}=${value}: expected one of ${rule.allowed.join(', ')}`;
  }
  const { min, max } = rule.allowed as { min: number; max: number };
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    return `${name}=${value}: expected a whole number from ${min} to ${max}`;
  }
  return undefined;
}
