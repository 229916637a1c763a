import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Annotations, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { clusterAlarms } from './cluster-observability';
import type { StackConfig } from './config';
import type { Database } from './database';
import type { IngestFunction } from './ingest-function';
import type { IngestProxy } from './proxy';
import type { Retention } from './retention';
import type { SyncFunction } from './sync-function';

// The functions' own metrics, written as CloudWatch embedded metric format (EMF) lines: the
// namespace comes from METRICS_NAMESPACE (context metricsNamespace) and every line carries the
// one dimension set [["FunctionName"]], whose value Lambda puts in AWS_LAMBDA_FUNCTION_NAME.
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

/** ingest-fn, one line per invocation. EventsInvalid counts events refused as invalid input
 *  (error type InvalidEvent); until issue 27 it was EventsRejected, a name now left to the
 *  database's refusals (error type StoreRejected). */
export type IngestMetricName =
  | 'EventsWritten'
  | 'EventsDuplicate'
  | 'EventsInvalid'
  | 'StoreUnavailable'
  | 'Reconnects'
  | 'WriteLatency';
/** sg-sync-fn, one line per run. */
export type SyncMetricName =
  | 'RulesAdded'
  | 'RulesRemoved'
  | 'WantedRanges'
  | 'FreeRuleSlots'
  | 'SyncSucceeded'
  | 'PublicationAgeSeconds'
  | 'FenceOpenings';

/** ingest-expire, one line per run (expire-fn/src/run.rs). */
export type ExpireMetricName = 'EventsExpired' | 'EventsArchived' | 'OldestEventAgeSeconds';

/** The dimension every EMF line of ours declares. */
export const EMF_DIMENSION = 'FunctionName';

/** One function's EMF metric of a given name. */
export type FunctionMetrics<N extends string> = (name: N, options?: cloudwatch.MetricOptions) => cloudwatch.Metric;

export function functionMetrics<N extends string>(namespace: string, fn: lambda.IFunction): FunctionMetrics<N> {
  return (name, options = {}) =>
    new cloudwatch.Metric({
      ...options,
      namespace,
      metricName: name,
      dimensionsMap: { [EMF_DIMENSION]: fn.functionName },
    });
}

// Thresholds, each a pure function of the stack's settings so the dashboard draws the same line.

/** DatabaseConnections at or above this leaves less than half of the connections kept free for
 *  migrate and operators. ingest-fn alone cannot reach it: its reserved concurrency times
 *  DB_POOL_MAX is at most max_connections - dbReservedConnections (config.ts). Reaching it means
 *  something else holds connections: environments Lambda retired whose sessions wait_timeout
 *  has not closed yet, a leak, or an operator's tool; at max_connections MySQL refuses logins
 *  with 1040 (Too many connections). */
export function connectionsThreshold(config: StackConfig): number {
  return config.dbMaxConnections - Math.ceil(config.dbReservedConnections / 2);
}

/** FreeStorageSpace (bytes) below this: half of the 10 % of the allocated storage at which RDS
 *  storage autoscaling starts growing the volume. Below it autoscaling did not act (the volume
 *  is at maxAllocatedStorage, the six hours since the last change have not passed, or the data
 *  grows faster); at zero the instance is STORAGE_FULL and every write fails. Later growth only
 *  raises the point where autoscaling acts, so the line stays below it.
 *  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html */
export function freeStorageThresholdBytes(allocatedGiB: number): number {
  return Math.round(allocatedGiB * 0.05 * 1024 ** 3);
}

/** The oldest message's age at which the queue is not being drained: a message that fails is
 *  received again after each visibility timeout and moves to the dead-letter queue after
 *  maxReceiveCount receives, so no message is older than their product unless nothing
 *  receives it (a disabled mapping, throttling, a function that cannot start) or the backlog
 *  outgrows the consumers. */
export function queueAgeThreshold(visibilityTimeoutSeconds: number, maxReceiveCount: number): Duration {
  return Duration.seconds(visibilityTimeoutSeconds * maxReceiveCount);
}

/** The db.t2, db.t3 and db.t4g classes, the only ones with CPU credits (CPUCreditBalance
 *  "applies only to db.t2, db.t3, and db.t4g instances").
 *  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html */
export function isBurstable(instanceType: string): boolean {
  return /^t\d/.test(instanceType);
}

/** Credits below which a balance that is not growing is an alarm: one credit is one vCPU at
 *  100 % for a minute, so 20 leave minutes of burst. */
export const CPU_CREDITS_LOW = 20;

/** Fewer free rule slots than this and the next AmazonIpSpaceChanged may not fit: a publication
 *  changes a region's EC2 set by a few prefixes at a time, so 10 is room for one or two of them,
 *  and growing the pool (securityGroupPoolSize) is one deploy. At zero the sync cannot add a
 *  new range and the database refuses clients on it. */
export const FREE_RULE_SLOTS_LOW = 10;

/** OldestEventAgeSeconds above this (seconds): the retention plus a day. A run keeps every row
 *  received since the start of the UTC day N days back, so right after a run that reached the
 *  cutoff the oldest row is less than N + 1 days old (expire-fn/src/chunk.rs, `cutoff`); older
 *  means the runs fall behind (a backlog larger than their time budgets) or fail. */
export function oldestEventAgeThreshold(retentionDays: number): number {
  return (retentionDays + 1) * 86_400;
}

/** OldestEventAge and ExpireErrors look at this many hourly periods and fire when every one of
 *  them breaches: one missed or failed run (a throttle, a deploy, a database restart) does not
 *  page, three in a row do. */
export const EXPIRE_ALARM_HOURS = 3;

/** The longest an alarm may look back: Period x EvaluationPeriods "can't be more than 604,800
 *  seconds". https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html */
export const ALARM_LOOKBACK_MAX = Duration.days(7);

/** The window of "no successful sync for 2 hours": two runs of a schedule slower than hourly,
 *  at most ALARM_LOOKBACK_MAX. `interval` is the schedule's rate, undefined for a cron
 *  expression (then the window stays 2 hours). */
export function syncSuccessWindow(schedule: string): { window: Duration; interval?: Duration } {
  const twoHours = Duration.hours(2);
  const m = /^rate\((\d+) (minutes?|hours?|days?)\)$/.exec(schedule.trim());
  if (!m) return { window: twoHours };
  const n = Number(m[1]);
  const unit = m[2];
  const interval = unit.startsWith('minute')
    ? Duration.minutes(n)
    : unit.startsWith('hour')
      ? Duration.hours(n)
      : Duration.days(n);
  const seconds = Math.min(Math.max(twoHours.toSeconds(), 2 * interval.toSeconds()), ALARM_LOOKBACK_MAX.toSeconds());
  return { window: Duration.seconds(seconds), interval };
}

export interface AlarmsProps {
  /** Subscribed to the topic; without it a synth warning says nobody is notified. */
  readonly email?: string;
}

/** Every alarm of the stack and the one encrypted topic they notify; an email subscription when
 *  one is configured, a synth warning when not. */
export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  /** Every alarm, in the order created (the dashboard shows their state). */
  readonly all: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps = {}) {
    super(scope, id);
    const { email } = props;
    // CloudWatch cannot use the AWS-managed alias/aws/sns key: its policy cannot be changed to
    // admit cloudwatch.amazonaws.com, and every notification would fail with
    // AWSKMS AccessDeniedException. A key of our own says so in its policy.
    this.key = new kms.Key(this, 'TopicKey', {
      description: 'lambda-rds-ingest alarm topic: readable by CloudWatch alarms',
      enableKeyRotation: true,
      // Holds no data at rest beyond messages in flight; nothing to keep after the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'lambda-rds-ingest alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (email) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    } else {
      Annotations.of(this).addWarningV2(
        'lambda-rds-ingest:alarm-topic-without-subscriber',
        'No alarmEmail: the alarm topic has no subscriber and every alarm goes unnoticed. Deploy with ' +
          '-c alarmEmail=ops@example.com, or subscribe your own endpoint to the AlarmTopicArn output.',
      );
    }
  }

  /** ingest-fn: failures, throttles, the Function URL's 5xx (where it has one), the queue's age,
   *  dead letters. */
  watchIngest(ingest: IngestFunction): void {
    const fn = ingest.function;
    this.add('IngestErrors', {
      metric: fn.metricErrors({ period: Duration.minutes(5) }),
      threshold: 1,
      description: 'ingest-fn failed (an invocation error or timeout)',
    });
    this.add('IngestThrottles', {
      metric: fn.metricThrottles({ period: Duration.minutes(5) }),
      threshold: 1,
      description: 'ingest-fn hit its reserved concurrency',
    });
    // A database outage answers 503 from a function that ran fine: no Lambda Errors, only the
    // URL's 5xx. Url5xxCount with the FunctionName dimension covers the URL on $LATEST, ours;
    // AWS recommends the Sum statistic.
    // https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html
    if (ingest.url) {
      this.add('IngestUrl5xx', {
        metric: urlMetric(fn, 'Url5xxCount'),
        threshold: 1,
        evaluationPeriods: 2,
        description: 'the Function URL answered 5xx in two consecutive 5-minute periods (database unreachable?)',
      });
    }
    const queue = ingest.queue.node.defaultChild as sqs.CfnQueue;
    const maxAge = queueAgeThreshold(Number(queue.visibilityTimeout), maxReceiveCount(ingest));
    this.add('IngestQueueAge', {
      metric: ingest.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: maxAge.toSeconds(),
      description: `the ingest queue's oldest message is ${maxAge.toMinutes()} minutes old: nothing drains it`,
    });
    this.deadLetters('IngestDeadLetters', ingest.deadLetters, 'SQS events were given up (invalid or undeliverable)');
  }

  /** The database: free storage, connections against max_connections, CPU credits; for an
   *  Aurora cluster its own (cluster-observability.ts). */
  watchDatabase(database: Database, config: StackConfig): void {
    if (database.cluster) {
      const alarms = clusterAlarms(database.cluster, config, connectionsThreshold(config));
      for (const [id, alarm] of Object.entries(alarms)) this.add(id, alarm);
      return;
    }
    const instance = database.instance;
    const allocated = Number((instance.node.defaultChild as rds.CfnDBInstance).allocatedStorage);
    this.add('DatabaseFreeStorage', {
      metric: instance.metricFreeStorageSpace({ period: Duration.minutes(5), statistic: 'Minimum' }),
      threshold: freeStorageThresholdBytes(allocated),
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      description: 'the database has under 5 % of its first allocation free; autoscaling has not caught up',
    });
    this.add('DatabaseConnections', {
      metric: instance.metricDatabaseConnections({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: connectionsThreshold(config),
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description:
        `database connections reached ${connectionsThreshold(config)} of max_connections ` +
        `${config.dbMaxConnections}: the reserve for migrate and operators is half gone`,
    });
    if (isBurstable(config.instanceType)) {
      // A new instance starts with no credits and earns them while idle, so a low balance alone
      // is no alarm; a low balance that is not growing is: the instance spends what it earns.
      // Then db.t3/db.t4g (unlimited) bill surplus credits and db.t2 is held to its baseline.
      // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
      const credits = instance.metric('CPUCreditBalance', { period: Duration.minutes(5), statistic: 'Average' });
      this.add('DatabaseCpuCredits', {
        metric: new cloudwatch.MathExpression({
          expression: `IF(credits < ${CPU_CREDITS_LOW} AND DIFF(credits) <= 0, 1, 0)`,
          usingMetrics: { credits },
          period: Duration.minutes(5),
          label: 'CPU credits low and not growing',
        }),
        threshold: 1,
        evaluationPeriods: 3,
        description: `the database's CPU credit balance is under ${CPU_CREDITS_LOW} and not growing for 15 minutes`,
      });
    }
  }

  /** RDS Proxy (`proxy=true`): its pool full, its database target unavailable, client logins
   *  refused. No alarm on pinned sessions: every ingest-fn session pins (docs/scaling.md, RDS
   *  Proxy), so DatabaseConnectionsCurrentlySessionPinned follows the sessions and the dashboard
   *  shows it.
   *  Metrics and their dimension sets: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-monitoring.html */
  watchProxy(proxy: IngestProxy): void {
    // The pool is full at the proxy's databaseConnections: every connection it may open
    // (max_connections x MaxConnectionsPercent) is held, and a new client session waits for one
    // (ConnectionBorrowTimeout) or, past ingest-fn's write timeout, fails as unavailable.
    // DatabaseConnections: "The current number of database connections. This metric is reported
    // every minute. The most useful statistic for this metric is Sum", and "RDS publishes these
    // metrics for each underlying Amazon EC2 instance associated with a proxy ... Use CloudWatch
    // statistics to aggregate the values for a proxy across all the associated instances": the Sum
    // of one minute's data points is the connections the whole proxy holds (Maximum would be one
    // node's share, never the pool). A longer period would add minutes together.
    const pool = proxy.databaseConnections;
    this.add('ProxyPoolFull', {
      metric: proxy.metric('DatabaseConnections', { period: PROXY_GAUGE_PERIOD, statistic: 'Sum' }),
      threshold: pool,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description:
        `the proxy holds all ${pool} database connections it may open (MaxConnectionsPercent ` +
        `${proxy.maxConnectionsPercent} % of max_connections): new sessions wait for one`,
    });
    this.add('ProxyUnavailable', {
      metric: proxy.metricAvailability(),
      threshold: 100,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description: 'the proxy could not reach its database for 3 of 5 minutes',
    });
    this.add('ProxyClientAuthFailures', {
      metric: proxy.metric('ClientConnectionsSetupFailedAuth', { period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      description: 'the proxy refused client logins (IAM token or TLS)',
    });
  }

  /** sg-sync-fn: dead letters, no successful sync, too few free rule slots, an opening in the
   *  fence (others' rules admitting the port from outside the EC2 ranges). No alarm on Errors:
   *  a transient failure (the CDN still serving the previous file) is repaired by the next run. */
  watchSync(sync: SyncFunction, config: StackConfig): void {
    const metric = functionMetrics<SyncMetricName>(config.metricsNamespace, sync.function);
    this.deadLetters('SyncDeadLetters', sync.deadLetters, 'a sg-sync-fn event was given up');
    const { window, interval } = syncSuccessWindow(config.syncSchedule);
    if (interval === undefined || interval.toSeconds() > window.toSeconds()) {
      Annotations.of(this).addWarningV2(
        'lambda-rds-ingest:sync-alarm-window',
        `syncSchedule ${config.syncSchedule}: the SyncNotSucceeded alarm fires after ${window.toHours()} hours ` +
          'without a successful run, so a schedule slower than that keeps it in ALARM',
      );
    }
    // No data means no run reported at all (not invoked, or it died before writing its line):
    // exactly what this alarm is for, so missing data breaches.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
    this.add('SyncNotSucceeded', {
      metric: metric('SyncSucceeded', { period: window, statistic: 'Sum' }),
      threshold: 1,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.BREACHING,
      description: `no successful sg-sync-fn run for ${window.toHours()} hours: the groups may lag the EC2 ranges`,
    });
    this.add('SyncFreeRuleSlots', {
      metric: metric('FreeRuleSlots', { period: Duration.hours(1), statistic: 'Minimum' }),
      threshold: FREE_RULE_SLOTS_LOW,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      description: `fewer than ${FREE_RULE_SLOTS_LOW} free rule slots in the security group pool`,
    });
    // Every successful run (skipped ones too) writes FenceOpenings, 0 when there are none; a
    // failed run and a dry run write none. Missing data is ignored, so the alarm keeps its state:
    // not breaching would flip it to OK (and notify "cleared") after one failed run, or between
    // runs of a schedule slower than the period, while the rule is still there; breaching would
    // fire it for a sync that stopped, which SyncNotSucceeded (missing data breaches) and
    // SyncDeadLetters already report. The rule goes only when someone removes or allows it, and
    // the next successful run's 0 clears the alarm. Period as SyncFreeRuleSlots: one scheduled
    // run an hour at the default schedule.
    this.add('FenceOpened', {
      metric: metric('FenceOpenings', { period: Duration.hours(1), statistic: 'Maximum' }),
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      missing: cloudwatch.TreatMissingData.IGNORE,
      description: 'a rule sg-sync-fn does not manage opens the database port from outside the EC2 ranges',
    });
  }

  /** ingest-expire (retentionDays): the oldest event older than the retention plus a day, or no
   *  report of it at all; failed runs. */
  watchRetention(retention: Retention, config: StackConfig): void {
    const metric = functionMetrics<ExpireMetricName>(config.metricsNamespace, retention.function);
    const threshold = oldestEventAgeThreshold(retention.days);
    // Every run writes OldestEventAgeSeconds once it could read the table (a failed run too);
    // a run that could not log in, or no run at all, writes none. Missing data breaches, so a
    // job that stopped is reported like one that falls behind.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
    this.add('OldestEventAge', {
      metric: metric('OldestEventAgeSeconds', { period: Duration.hours(1), statistic: 'Maximum' }),
      threshold,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: EXPIRE_ALARM_HOURS,
      datapointsToAlarm: EXPIRE_ALARM_HOURS,
      missing: cloudwatch.TreatMissingData.BREACHING,
      description:
        `the oldest event is older than retentionDays ${retention.days} + 1 day, or ingest-expire reported ` +
        `no age, for ${EXPIRE_ALARM_HOURS} hours in a row: expiry falls behind or does not run`,
    });
    // A failed run is repaired by the next one; failing every hour is an alarm before the age
    // passes the threshold, which may take a day. No runs, no data: not breaching (the age alarm
    // covers that).
    this.add('ExpireErrors', {
      metric: retention.function.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: EXPIRE_ALARM_HOURS,
      datapointsToAlarm: EXPIRE_ALARM_HOURS,
      description: `ingest-expire failed in each of the last ${EXPIRE_ALARM_HOURS} hours`,
    });
  }

  /** Alarms while a dead-letter queue holds anything. */
  private deadLetters(id: string, queue: sqs.IQueue, description: string): void {
    this.add(id, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      description,
    });
  }

  private add(id: string, a: AlarmSpec): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric: a.metric,
      threshold: a.threshold,
      evaluationPeriods: a.evaluationPeriods ?? 1,
      datapointsToAlarm: a.datapointsToAlarm,
      comparisonOperator: a.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: a.missing ?? cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${a.description}. Runbook: ${runbookLink(id)}`,
    });
    // OK too: the operator learns that it cleared without looking.
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.all.push(alarm);
    return alarm;
  }
}

interface AlarmSpec {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly description: string;
  readonly evaluationPeriods?: number;
  readonly datapointsToAlarm?: number;
  readonly comparison?: cloudwatch.ComparisonOperator;
  readonly missing?: cloudwatch.TreatMissingData;
}

/** Where alarm `id`'s runbook is: docs/operations.md has one heading per alarm, its id
 *  (`### ProxyPoolFull`), and GitHub anchors a heading at its slug: lower case, spaces to `-`,
 *  every character but letters, digits, `-` and `_` dropped. The docs test
 *  (tests/support/tests/docs/) holds every alarm id here to such a heading. */
export function runbookLink(id: string): string {
  const slug = id.trim().toLowerCase().replace(/ /g, '-').replace(/[^a-z0-9_-]/g, '');
  return `docs/operations.md#${slug}`;
}

/** The period of the proxy's per-minute gauges (DatabaseConnections and the like): their "Valid
 *  period" is 1 minute, so a Sum over it is the proxy's total at that minute.
 *  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html */
export const PROXY_GAUGE_PERIOD = Duration.minutes(1);

/** A Function URL metric of the function's unqualified URL (AWS/Lambda, FunctionName). */
export function urlMetric(
  fn: lambda.IFunction,
  name: 'Url4xxCount' | 'Url5xxCount' | 'UrlRequestCount',
): cloudwatch.Metric {
  return fn.metric(name, { period: Duration.minutes(5), statistic: 'Sum' });
}

function maxReceiveCount(ingest: IngestFunction): number {
  const redrive = ingest.queue.deadLetterQueue;
  if (!redrive) throw new Error('the ingest queue has no dead-letter queue');
  return redrive.maxReceiveCount;
}
