import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import {
  Alarms,
  ExpireMetricName,
  FREE_RULE_SLOTS_LOW,
  PROXY_GAUGE_PERIOD,
  IngestMetricName,
  SyncMetricName,
  connectionsThreshold,
  freeStorageThresholdBytes,
  oldestEventAgeThreshold,
  functionMetrics,
  isBurstable,
  queueAgeThreshold,
  urlMetric,
} from './alarms';
import { clusterGraphs } from './cluster-observability';
import { StackConfig } from './config';
import { Database } from './database';
import { IngestFunction } from './ingest-function';
import { IngestProxy } from './proxy';
import { Retention } from './retention';
import { SyncFunction } from './sync-function';

export interface OperationsDashboardProps {
  readonly config: StackConfig;
  readonly ingest: IngestFunction;
  readonly database: Database;
  readonly alarms: Alarms;
  /** Public mode only. */
  readonly sync?: SyncFunction;
  /** `proxy=true` only. */
  readonly proxy?: IngestProxy;
  /** `retentionDays` only. */
  readonly retention?: Retention;
}

const PERIOD = Duration.minutes(5);
const WIDTH = 8;
const HEIGHT = 6;

/** One CloudWatch dashboard for the whole stack, in both modes: ingest-fn (rate, errors,
 *  latency, Function URL), its queue and dead letters, the database (connections against
 *  max_connections, CPU and credits, free storage), the alarms' state and, in the public mode,
 *  sg-sync-fn (runs, free rule slots, fence openings, publication age) and, with retentionDays,
 *  ingest-expire (rows expired and archived, the oldest event's age). Hand-written widgets: docs/operations.md
 *  ("Alarms and the dashboard") says why not cdk-monitoring-constructs. */
export class OperationsDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { config, ingest, database, alarms, sync, proxy, retention } = props;
    // No dashboardName: CloudFormation derives a unique one, so two stacks in one account and
    // region never collide (the DashboardName output says which).
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(6),
      periodOverride: cloudwatch.PeriodOverride.AUTO,
    });
    this.dashboard.addWidgets(heading('ingest-fn'));
    this.dashboard.addWidgets(...ingestWidgets(config, ingest));
    this.dashboard.addWidgets(heading('Queue, dead letters and alarms'));
    this.dashboard.addWidgets(...queueWidgets(ingest, alarms, sync));
    this.dashboard.addWidgets(heading('Database'));
    this.dashboard.addWidgets(...databaseWidgets(config, database));
    if (proxy) {
      this.dashboard.addWidgets(heading('RDS Proxy'));
      this.dashboard.addWidgets(...proxyWidgets(config, proxy));
    }
    if (sync) {
      this.dashboard.addWidgets(heading('sg-sync-fn'));
      this.dashboard.addWidgets(...syncWidgets(config, sync));
    }
    if (retention) {
      this.dashboard.addWidgets(heading('ingest-expire (retention)'));
      this.dashboard.addWidgets(...retentionWidgets(config, retention));
    }
  }
}

function heading(text: string): cloudwatch.TextWidget {
  return new cloudwatch.TextWidget({ markdown: `## ${text}`, width: 24, height: 1 });
}

function graph(title: string, props: Omit<cloudwatch.GraphWidgetProps, 'title'>): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, width: WIDTH, height: HEIGHT, ...props });
}

function ingestWidgets(config: StackConfig, ingest: IngestFunction): cloudwatch.IWidget[] {
  const fn = ingest.function;
  const emf = functionMetrics<IngestMetricName>(config.metricsNamespace, fn);
  const sum = (name: IngestMetricName, label: string) => emf(name, { period: PERIOD, statistic: 'Sum', label });
  return [
    graph('Events per 5 minutes', {
      left: [sum('EventsWritten', 'written'), sum('EventsDuplicate', 'duplicates'), sum('EventsInvalid', 'invalid')],
      right: [fn.metricInvocations({ period: PERIOD, label: 'invocations' })],
    }),
    graph('Errors per 5 minutes', {
      left: [
        fn.metricErrors({ period: PERIOD, label: 'function errors' }),
        fn.metricThrottles({ period: PERIOD, label: 'throttles' }),
        sum('StoreUnavailable', 'store unavailable'),
        sum('Reconnects', 'reconnects'),
      ],
    }),
    graph('Latency (ms)', {
      left: [
        emf('WriteLatency', { period: PERIOD, statistic: 'p50', label: 'write p50' }),
        emf('WriteLatency', { period: PERIOD, statistic: 'p99', label: 'write p99' }),
        fn.metricDuration({ period: PERIOD, statistic: 'p50', label: 'duration p50' }),
        fn.metricDuration({ period: PERIOD, statistic: 'p99', label: 'duration p99' }),
      ],
    }),
    // Where Lambda offers no Function URLs the stack has none, and nothing to graph.
    ...(ingest.url
      ? [
          graph('Function URL per 5 minutes', {
            left: [
              urlMetric(fn, 'UrlRequestCount').with({ label: 'requests' }),
              urlMetric(fn, 'Url4xxCount').with({ label: '4xx' }),
              urlMetric(fn, 'Url5xxCount').with({ label: '5xx' }),
            ],
          }),
        ]
      : []),
  ];
}

function queueWidgets(ingest: IngestFunction, alarms: Alarms, sync?: SyncFunction): cloudwatch.IWidget[] {
  const queue = ingest.queue;
  const cfn = queue.node.defaultChild as sqs.CfnQueue;
  const maxAge = queueAgeThreshold(Number(cfn.visibilityTimeout), queue.deadLetterQueue?.maxReceiveCount ?? 1);
  const visible = (q: sqs.IQueue, label: string) =>
    q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label });
  return [
    graph('Ingest queue: depth and oldest message (s)', {
      left: [
        visible(queue, 'visible'),
        queue.metricApproximateNumberOfMessagesNotVisible({ period: PERIOD, statistic: 'Maximum', label: 'in flight' }),
      ],
      right: [queue.metricApproximateAgeOfOldestMessage({ period: PERIOD, statistic: 'Maximum', label: 'oldest (s)' })],
      rightAnnotations: [{ value: maxAge.toSeconds(), label: 'IngestQueueAge alarm' }],
    }),
    graph('Dead letters', {
      left: [visible(ingest.deadLetters, 'ingest'), ...(sync ? [visible(sync.deadLetters, 'sg-sync-fn')] : [])],
    }),
    new cloudwatch.AlarmStatusWidget({
      title: 'Alarms',
      alarms: alarms.all,
      width: WIDTH,
      height: HEIGHT,
      sortBy: cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
    }),
  ];
}

function databaseWidgets(config: StackConfig, database: Database): cloudwatch.IWidget[] {
  if (database.cluster) {
    return clusterGraphs(database.cluster, config, connectionsThreshold(config), PERIOD).map(({ title, props }) =>
      graph(title, props),
    );
  }
  const instance = database.instance;
  const allocated = Number((instance.node.defaultChild as rds.CfnDBInstance).allocatedStorage);
  const cpu: Omit<cloudwatch.GraphWidgetProps, 'title'> = {
    left: [instance.metricCPUUtilization({ period: PERIOD, label: 'CPU %' })],
    leftYAxis: { min: 0, max: 100 },
    ...(isBurstable(config.instanceType) && {
      right: [instance.metric('CPUCreditBalance', { period: PERIOD, statistic: 'Average', label: 'credit balance' })],
    }),
  };
  return [
    graph('Database connections', {
      left: [
        instance.metricDatabaseConnections({ period: Duration.minutes(1), statistic: 'Maximum', label: 'connections' }),
      ],
      leftYAxis: { min: 0, max: config.dbMaxConnections },
      leftAnnotations: [
        { value: config.dbMaxConnections, label: 'max_connections', color: cloudwatch.Color.RED },
        { value: connectionsThreshold(config), label: 'DatabaseConnections alarm' },
      ],
    }),
    graph(isBurstable(config.instanceType) ? 'Database CPU and credits' : 'Database CPU', cpu),
    graph('Database free storage (bytes)', {
      left: [instance.metricFreeStorageSpace({ period: PERIOD, statistic: 'Minimum', label: 'free' })],
      leftYAxis: { min: 0 },
      leftAnnotations: [{ value: freeStorageThresholdBytes(allocated), label: 'DatabaseFreeStorage alarm' }],
    }),
  ];
}

/** The proxy's sessions (clients, database connections, pinned ones) against its pool and
 *  ingest-fn's reservation, how long a session waits for a connection and the database answers,
 *  its availability and refused logins. */
function proxyWidgets(config: StackConfig, proxy: IngestProxy): cloudwatch.IWidget[] {
  // Per-minute gauges published per proxy node: their Sum over a minute is the proxy's total
  // (PROXY_GAUGE_PERIOD, "The most useful statistic for this metric is Sum"). The dashboard widens
  // periods over long ranges (PeriodOverride.AUTO), where a Sum would add minutes together: the
  // expression divides by the minutes in the period, so the line stays the connections held.
  const gauge = (
    id: string,
    name: 'ClientConnections' | 'DatabaseConnections' | 'DatabaseConnectionsCurrentlySessionPinned',
    label: string,
  ) =>
    new cloudwatch.MathExpression({
      expression: `${id} * ${PROXY_GAUGE_PERIOD.toSeconds()} / PERIOD(${id})`,
      usingMetrics: { [id]: proxy.metric(name, { period: PROXY_GAUGE_PERIOD, statistic: 'Sum' }) },
      period: PROXY_GAUGE_PERIOD,
      label,
    });
  const average = (name: 'DatabaseConnectionsBorrowLatency' | 'QueryDatabaseResponseLatency', label: string) =>
    proxy.metric(name, { period: PERIOD, statistic: 'Average', label });
  return [
    graph('RDS Proxy sessions', {
      left: [
        gauge('clients', 'ClientConnections', 'client sessions'),
        gauge('connections', 'DatabaseConnections', 'database connections'),
        gauge('pinned', 'DatabaseConnectionsCurrentlySessionPinned', 'pinned'),
      ],
      leftYAxis: { min: 0 },
      leftAnnotations: [
        { value: proxy.databaseConnections, label: 'ProxyPoolFull alarm (the pool)', color: cloudwatch.Color.RED },
        { value: config.ingestConcurrency * config.dbPoolMax, label: 'ingest-fn reservation x DB_POOL_MAX' },
      ],
    }),
    graph('RDS Proxy latency (µs)', {
      left: [
        average('QueryDatabaseResponseLatency', 'database response'),
        average('DatabaseConnectionsBorrowLatency', 'borrow a connection'),
      ],
      leftYAxis: { min: 0 },
    }),
    graph('RDS Proxy availability and refused logins', {
      left: [proxy.metricAvailability({ period: PERIOD, label: 'availability %' })],
      leftYAxis: { min: 0, max: 100 },
      right: [proxy.metric('ClientConnectionsSetupFailedAuth', { period: PERIOD, statistic: 'Sum', label: 'refused logins' })],
    }),
  ];
}

function syncWidgets(config: StackConfig, sync: SyncFunction): cloudwatch.IWidget[] {
  const fn = sync.function;
  const emf = functionMetrics<SyncMetricName>(config.metricsNamespace, fn);
  const hour = Duration.hours(1);
  return [
    graph('Sync runs per hour', {
      left: [
        emf('SyncSucceeded', { period: hour, statistic: 'Sum', label: 'succeeded' }),
        fn.metricInvocations({ period: hour, label: 'invocations' }),
        fn.metricErrors({ period: hour, label: 'errors' }),
      ],
      right: [
        emf('RulesAdded', { period: hour, statistic: 'Sum', label: 'rules added' }),
        emf('RulesRemoved', { period: hour, statistic: 'Sum', label: 'rules removed' }),
      ],
    }),
    graph('Rule slots', {
      left: [
        emf('FreeRuleSlots', { period: hour, statistic: 'Minimum', label: 'free rule slots' }),
        emf('WantedRanges', { period: hour, statistic: 'Maximum', label: 'wanted ranges' }),
      ],
      leftYAxis: { min: 0 },
      leftAnnotations: [{ value: FREE_RULE_SLOTS_LOW, label: 'SyncFreeRuleSlots alarm' }],
    }),
    graph('Fence openings (others\' rules admitting the port from outside the EC2 ranges)', {
      left: [emf('FenceOpenings', { period: hour, statistic: 'Maximum', label: 'fence openings' })],
      leftYAxis: { min: 0 },
      leftAnnotations: [{ value: 1, label: 'FenceOpened alarm (> 0)' }],
    }),
    graph('ip-ranges.json publication age (s)', {
      left: [emf('PublicationAgeSeconds', { period: hour, statistic: 'Maximum', label: 'applied publication' })],
      leftYAxis: { min: 0 },
    }),
  ];
}

/** Rows expired and archived per hour, the runs, and the oldest event's age in days against the
 *  OldestEventAge alarm's line. */
function retentionWidgets(config: StackConfig, retention: Retention): cloudwatch.IWidget[] {
  const fn = retention.function;
  const emf = functionMetrics<ExpireMetricName>(config.metricsNamespace, fn);
  const hour = Duration.hours(1);
  const day = 86_400;
  const age = emf('OldestEventAgeSeconds', { period: hour, statistic: 'Maximum' });
  return [
    graph('Events expired and archived per hour', {
      left: [
        emf('EventsExpired', { period: hour, statistic: 'Sum', label: 'expired' }),
        emf('EventsArchived', { period: hour, statistic: 'Sum', label: 'archived' }),
      ],
      leftYAxis: { min: 0 },
    }),
    graph('ingest-expire runs per hour', {
      left: [fn.metricInvocations({ period: hour, label: 'runs' }), fn.metricErrors({ period: hour, label: 'errors' })],
      right: [fn.metricDuration({ period: hour, statistic: 'Maximum', label: 'longest run (ms)' })],
      leftYAxis: { min: 0 },
    }),
    graph('Oldest event age (days)', {
      left: [
        new cloudwatch.MathExpression({
          expression: `age / ${day}`,
          usingMetrics: { age },
          period: hour,
          label: 'oldest event (days)',
        }),
      ],
      leftYAxis: { min: 0 },
      leftAnnotations: [
        { value: retention.days, label: 'retentionDays' },
        { value: oldestEventAgeThreshold(retention.days) / day, label: 'OldestEventAge alarm', color: cloudwatch.Color.RED },
      ],
    }),
  ];
}
