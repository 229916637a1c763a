// Alarms that can fire, the dashboard, and the metric names both read. Each rule AWS documents
// is cited beside its test; every test runs on the templates of both modes.
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Synthesized, findOne, functionNamed, idsOf, synth, synthEveryMode } from './helpers';

// The names fixed for issue 18 (ingest-fn per invocation, sg-sync-fn per run), with issue 27's
// EventsInvalid for invalid input (EventsRejected before). Spelled out here, not imported, so a
// rename in lib/ fails this test instead of following it.
const INGEST_METRICS = ['EventsWritten', 'EventsDuplicate', 'EventsInvalid', 'StoreUnavailable', 'Reconnects', 'WriteLatency'];
const SYNC_METRICS = ['RulesAdded', 'RulesRemoved', 'WantedRanges', 'FreeRuleSlots', 'SyncSucceeded', 'PublicationAgeSeconds', 'FenceOpenings'];
const DEFAULT_NAMESPACE = 'LambdaRdsIngest';

const MODES: [string, Record<string, string>][] = [
  ['public', {}],
  ['vpc', { mode: 'vpc' }],
];
const { synthesized, everyMode } = synthEveryMode(MODES);
const pub = synthesized.get('public') as Synthesized;
const vpc = synthesized.get('vpc') as Synthesized;

type Alarm = { id: string; p: any };

function alarms(s: Synthesized): Alarm[] {
  return idsOf(s.json, 'AWS::CloudWatch::Alarm').map((id) => ({ id, p: s.json.Resources[id].Properties }));
}

/** Every metric an alarm reads: its own, or those of its metric math. */
function alarmMetrics(a: Alarm): { namespace: string; name: string; dimensions: any[]; period: number; stat: string }[] {
  if (a.p.MetricName !== undefined) {
    return [
      {
        namespace: a.p.Namespace,
        name: a.p.MetricName,
        dimensions: a.p.Dimensions ?? [],
        period: a.p.Period,
        stat: a.p.Statistic ?? a.p.ExtendedStatistic,
      },
    ];
  }
  return (a.p.Metrics ?? [])
    .filter((m: any) => m.MetricStat)
    .map((m: any) => ({
      namespace: m.MetricStat.Metric.Namespace,
      name: m.MetricStat.Metric.MetricName,
      dimensions: m.MetricStat.Metric.Dimensions ?? [],
      period: m.MetricStat.Period,
      stat: m.MetricStat.Stat,
    }));
}

function alarmOn(s: Synthesized, namespace: string, name: string): Alarm {
  const found = alarms(s).filter((a) => alarmMetrics(a).some((m) => m.namespace === namespace && m.name === name));
  if (found.length !== 1) throw new Error(`expected one alarm on ${namespace} ${name}, found ${found.length}`);
  return found[0];
}

/** A CloudFormation value as text: itself, or `{{Ref:Id}}` / `{{GetAtt:Id.Attr}}`. */
function tokenText(x: any): string {
  if (typeof x === 'string') return x;
  if (x.Ref) return `{{Ref:${x.Ref}}}`;
  if (x['Fn::GetAtt']) return `{{GetAtt:${x['Fn::GetAtt'].join('.')}}}`;
  throw new Error(`unexpected token: ${JSON.stringify(x)}`);
}

/** The dashboard's body as JSON, each CloudFormation token in it as tokenText. */
function dashboardOf(s: Synthesized): any {
  const [, dashboard] = findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true);
  const body = dashboard.Properties.DashboardBody;
  const parts: any[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  return JSON.parse(parts.map(tokenText).join(''));
}

/** Every metric row of every graph: [namespace, name, dim, value, ..., {options}?]. */
interface GraphedMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Record<string, string>;
  readonly options: any;
  readonly title: string;
}

function dashboardMetrics(s: Synthesized): GraphedMetric[] {
  const rows = [];
  for (const w of dashboardOf(s).widgets) {
    for (const row of w.properties?.metrics ?? []) {
      const options = typeof row[row.length - 1] === 'object' ? row[row.length - 1] : {};
      const plain = row.filter((x: unknown) => typeof x === 'string');
      const dimensions: Record<string, string> = {};
      for (let i = 2; i + 1 < plain.length; i += 2) dimensions[plain[i]] = plain[i + 1];
      rows.push({ namespace: plain[0], name: plain[1], dimensions, options, title: w.properties.title });
    }
  }
  return rows;
}

function graphTitled(s: Synthesized, pattern: RegExp): any {
  const found = dashboardOf(s).widgets.filter((w: any) => pattern.test(w.properties?.title ?? ''));
  if (found.length !== 1) throw new Error(`expected one widget titled ${pattern}, found ${found.length}`);
  return found[0].properties;
}

const ref = (id: string) => ({ Ref: id });

describe('metric names (contract)', () => {
  // EMF: the namespace and the dimension set every line declares name the metric CloudWatch
  // creates; an alarm or graph on any other spelling watches a metric that never exists.
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
  test.each(everyMode)('%s: alarms and dashboard read exactly the contract names, per function, in the default namespace', (mode, s) => {
    const [ingestId] = functionNamed(s.json, 'ingest-fn');
    const sync = mode === 'public' ? functionNamed(s.json, 'sg-sync-fn')[0] : undefined;
    const custom = [
      ...alarms(s)
        .flatMap(alarmMetrics)
        .map((m) => ({ ...m, dims: m.dimensions.map((d: any) => [d.Name, tokenText(d.Value)]) })),
      ...dashboardMetrics(s).map((m) => ({ ...m, dims: Object.entries(m.dimensions) })),
    ].filter((m) => !m.namespace.startsWith('AWS/'));
    expect(new Set(custom.map((m) => m.namespace))).toEqual(new Set([DEFAULT_NAMESPACE]));
    const names = new Set(custom.map((m) => m.name));
    expect([...names].sort()).toEqual([...INGEST_METRICS, ...(sync ? SYNC_METRICS : [])].sort());
    for (const m of custom) {
      const owner = INGEST_METRICS.includes(m.name) ? ingestId : sync;
      expect({ name: m.name, dims: m.dims }).toEqual({ name: m.name, dims: [['FunctionName', `{{Ref:${owner}}}`]] });
    }
  });

  test.each(everyMode)('%s: both functions write to the namespace the alarms read (METRICS_NAMESPACE)', (mode, s) => {
    const binaries = mode === 'public' ? ['ingest-fn', 'sg-sync-fn'] : ['ingest-fn'];
    for (const binary of binaries) {
      expect(functionNamed(s.json, binary)[1].Properties.Environment.Variables.METRICS_NAMESPACE).toBe(DEFAULT_NAMESPACE);
    }
  });

  // An EMF line has no `level` field, so Lambda's JSON log format counts it as INFO and drops it
  // when the function's application log level is WARN or above: the metrics would vanish
  // without an error anywhere. Both metric writers stay at INFO (or more verbose).
  // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
  test.each(everyMode)('%s: the metric writers log at INFO or below, where Lambda keeps EMF lines', (mode, s) => {
    const binaries = mode === 'public' ? ['ingest-fn', 'sg-sync-fn'] : ['ingest-fn'];
    for (const binary of binaries) {
      const logging = functionNamed(s.json, binary)[1].Properties.LoggingConfig;
      expect({ binary, format: logging.LogFormat }).toEqual({ binary, format: 'JSON' });
      expect(['TRACE', 'DEBUG', 'INFO']).toContain(logging.ApplicationLogLevel);
    }
  });

  test('metricsNamespace moves the functions, the alarms and the dashboard together', () => {
    const s = synth({ metricsNamespace: 'Ops/Ingest' });
    expect(functionNamed(s.json, 'ingest-fn')[1].Properties.Environment.Variables.METRICS_NAMESPACE).toBe('Ops/Ingest');
    expect(functionNamed(s.json, 'sg-sync-fn')[1].Properties.Environment.Variables.METRICS_NAMESPACE).toBe('Ops/Ingest');
    const namespaces = [...alarms(s).flatMap(alarmMetrics), ...dashboardMetrics(s)]
      .map((m) => m.namespace)
      .filter((n) => !n.startsWith('AWS/'));
    expect(namespaces.length).toBeGreaterThan(0);
    expect(new Set(namespaces)).toEqual(new Set(['Ops/Ingest']));
  });
});

describe.each(everyMode)('%s: alarms', (mode, s) => {
  // "Url5xxCount – The number of requests that returned a 5XX HTTP status code"; the
  // FunctionName dimension aggregates the URLs of $LATEST and the aliases; Sum is the statistic
  // AWS recommends. https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html
  test('Lambda: the Function URL\'s 5xx alarm watches Url5xxCount of the unqualified URL by FunctionName', () => {
    const [ingestId] = functionNamed(s.json, 'ingest-fn');
    const [, url] = findOne(s.json, 'AWS::Lambda::Url', () => true);
    expect(url.Properties.Qualifier).toBeUndefined();
    const a = alarmOn(s, 'AWS/Lambda', 'Url5xxCount');
    expect(a.p).toMatchObject({
      Dimensions: [{ Name: 'FunctionName', Value: ref(ingestId) }],
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  // ApproximateAgeOfOldestMessage (seconds) of the source queue; a message is received again
  // after its visibility timeout and moves to the dead-letter queue after maxReceiveCount.
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
  test('SQS: the ingest queue\'s age alarm fires past visibility timeout x maxReceiveCount', () => {
    const [queueId, queue] = findOne(s.json, 'AWS::SQS::Queue', (p) => p.RedrivePolicy !== undefined);
    const a = alarmOn(s, 'AWS/SQS', 'ApproximateAgeOfOldestMessage');
    expect(a.p.Dimensions).toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }]);
    expect(a.p.Statistic).toBe('Maximum');
    expect(a.p.Threshold).toBe(queue.Properties.VisibilityTimeout * queue.Properties.RedrivePolicy.maxReceiveCount);
  });

  // FreeStorageSpace is in bytes; storage autoscaling acts when free space is at most 10 % of
  // the allocated storage for five minutes.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html
  test('RDS: the free storage alarm (bytes) sits below the point where autoscaling acts', () => {
    const [dbId, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    expect(Number(db.Properties.MaxAllocatedStorage)).toBeGreaterThan(Number(db.Properties.AllocatedStorage));
    const a = alarmOn(s, 'AWS/RDS', 'FreeStorageSpace');
    const allocatedBytes = Number(db.Properties.AllocatedStorage) * 1024 ** 3;
    expect(a.p.Dimensions).toEqual([{ Name: 'DBInstanceIdentifier', Value: ref(dbId) }]);
    expect(a.p.ComparisonOperator).toBe('LessThanThreshold');
    expect(a.p.Threshold).toBeLessThan(allocatedBytes * 0.1);
    expect(a.p.Threshold).toBeGreaterThanOrEqual(allocatedBytes * 0.05);
  });

  // DatabaseConnections counts the client connections; MySQL refuses logins past
  // max_connections. https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
  test('RDS: the connections alarm sits between ingest-fn\'s ceiling and max_connections', () => {
    const [, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    const maxConnections = Number(s.json.Resources[db.Properties.DBParameterGroupName.Ref].Properties.Parameters.max_connections);
    const [, ingest] = functionNamed(s.json, 'ingest-fn');
    const ingestCeiling = ingest.Properties.ReservedConcurrentExecutions * Number(ingest.Properties.Environment.Variables.DB_POOL_MAX);
    const a = alarmOn(s, 'AWS/RDS', 'DatabaseConnections');
    expect(a.p.Statistic).toBe('Maximum');
    expect(a.p.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    expect(a.p.Threshold).toBeGreaterThan(ingestCeiling);
    expect(a.p.Threshold).toBeLessThan(maxConnections);
    expect(a.p.Threshold).toBe(95);
  });

  // CPUCreditBalance "applies only to db.t2, db.t3, and db.t4g instances".
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
  test('RDS: the default burstable class (t4g) has a CPU credit alarm on its instance', () => {
    const [dbId, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    expect(db.Properties.DBInstanceClass).toMatch(/^db\.t\d/);
    const a = alarmOn(s, 'AWS/RDS', 'CPUCreditBalance');
    const [credits] = alarmMetrics(a);
    expect(credits.dimensions).toEqual([{ Name: 'DBInstanceIdentifier', Value: ref(dbId) }]);
    const expression = a.p.Metrics.find((m: any) => m.ReturnData !== false && m.Expression).Expression;
    expect(expression).toMatch(/credits < \d+/);
    expect(expression).toContain('DIFF(credits)');
  });

  // A dead-letter queue holds what Lambda gave up; ApproximateNumberOfMessagesVisible counts it.
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
  test('SQS: every dead-letter queue of the stack has an alarm', () => {
    const dlqs = Object.values(s.json.Resources)
      .flatMap((r: any) => [
        r.Properties?.RedrivePolicy?.deadLetterTargetArn?.['Fn::GetAtt']?.[0],
        r.Properties?.DeadLetterConfig?.TargetArn?.['Fn::GetAtt']?.[0],
      ])
      .filter((x): x is string => typeof x === 'string');
    expect(new Set(dlqs).size).toBe(mode === 'public' ? 2 : 1);
    for (const dlq of new Set(dlqs)) {
      const dimensions = JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }]);
      const onDlq = (a: Alarm) =>
        a.p.MetricName === 'ApproximateNumberOfMessagesVisible' && JSON.stringify(a.p.Dimensions) === dimensions;
      expect({ dlq, alarmed: alarms(s).some(onDlq) }).toEqual({ dlq, alarmed: true });
    }
  });

  // Period: 10, 20, 30 or a multiple of 60; Period x EvaluationPeriods at most 604,800 s, and at
  // most 86,400 s for periods under an hour.
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
  test('CloudWatch: every alarm\'s period and look-back are ones PutMetricAlarm accepts, and it notifies the topic', () => {
    const topic = findOne(s.json, 'AWS::SNS::Topic', () => true)[0];
    const all = alarms(s);
    expect(all.length).toBe(mode === 'public' ? 12 : 8);
    for (const a of all) {
      for (const m of alarmMetrics(a)) {
        expect(m.period % 60 === 0 || [10, 20, 30].includes(m.period)).toBe(true);
        const lookBack = m.period * a.p.EvaluationPeriods;
        expect(lookBack).toBeLessThanOrEqual(m.period < 3600 ? 86400 : 604800);
      }
      expect(a.p.AlarmActions).toEqual([ref(topic)]);
      expect(a.p.OKActions).toEqual([ref(topic)]);
    }
  });
});

describe('sg-sync-fn alarms', () => {
  // Missing data is "breaching" where no data means the failure: no run reported success.
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
  test('no successful sync for 2 hours, no data counting as none; fewer than 10 free rule slots; no Errors alarm', () => {
    const [syncId] = functionNamed(pub.json, 'sg-sync-fn');
    const succeeded = alarmOn(pub, DEFAULT_NAMESPACE, 'SyncSucceeded');
    expect(succeeded.p).toMatchObject({
      Statistic: 'Sum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      Dimensions: [{ Name: 'FunctionName', Value: ref(syncId) }],
    });
    expect(succeeded.p.Period * succeeded.p.EvaluationPeriods).toBe(2 * 3600);
    const slots = alarmOn(pub, DEFAULT_NAMESPACE, 'FreeRuleSlots');
    expect(slots.p).toMatchObject({ Statistic: 'Minimum', ComparisonOperator: 'LessThanThreshold', Threshold: 10 });
    const onSyncErrors = alarms(pub).filter((a) => a.p.MetricName === 'Errors' && a.p.Dimensions?.[0]?.Value?.Ref === syncId);
    expect(onSyncErrors).toEqual([]);
  });

  // A rule of someone else's admitting 3306 from outside the EC2 ranges: any run that saw one
  // (Maximum > 0) fires it; missing data (a failed or dry run writes no FenceOpenings) keeps the
  // state instead of clearing it, since SyncNotSucceeded covers runs that do not succeed.
  test('FenceOpened: FenceOpenings of the sync function, Maximum over an hour, > 0, missing data ignored, runbook linked', () => {
    const [syncId] = functionNamed(pub.json, 'sg-sync-fn');
    const fence = alarmOn(pub, DEFAULT_NAMESPACE, 'FenceOpenings');
    expect(fence.id).toMatch(/FenceOpened/);
    expect(fence.p).toMatchObject({
      Namespace: DEFAULT_NAMESPACE,
      MetricName: 'FenceOpenings',
      Dimensions: [{ Name: 'FunctionName', Value: ref(syncId) }],
      Statistic: 'Maximum',
      Period: 3600,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'ignore',
    });
    expect(fence.p.AlarmDescription).toContain('docs/operations.md#fenceopened');
    const custom = synth({ metricsNamespace: 'Custom/Ns' });
    expect(alarmOn(custom, 'Custom/Ns', 'FenceOpenings').p.Threshold).toBe(0);
  });

  test('the dashboard graphs FenceOpenings (Maximum per hour) beside the sync\'s other metrics', () => {
    const graph = graphTitled(pub, /^Fence openings/);
    expect(graph.metrics).toHaveLength(1);
    expect(graph.metrics[0].slice(0, 2)).toEqual([DEFAULT_NAMESPACE, 'FenceOpenings']);
    expect(graph.metrics[0][graph.metrics[0].length - 1]).toMatchObject({ stat: 'Maximum', period: 3600 });
  });

  test('the vpc mode, which has no sync, has none of its alarms', () => {
    expect(alarms(vpc).filter((a) => alarmMetrics(a).some((m) => SYNC_METRICS.includes(m.name)))).toEqual([]);
  });

  test('a slower schedule widens the window to two runs, up to the 7 days an alarm can look back, and says so past that', () => {
    const six = synth({ syncSchedule: 'rate(6 hours)' });
    const a6 = alarmOn(six, DEFAULT_NAMESPACE, 'SyncSucceeded');
    expect(a6.p.Period * a6.p.EvaluationPeriods).toBe(12 * 3600);
    Annotations.fromStack(six.stack).hasNoWarning('*', Match.stringLikeRegexp('syncSchedule'));
    const slow = synth({ syncSchedule: 'rate(10 days)' });
    const aSlow = alarmOn(slow, DEFAULT_NAMESPACE, 'SyncSucceeded');
    expect(aSlow.p.Period * aSlow.p.EvaluationPeriods).toBe(7 * 86400);
    Annotations.fromStack(slow.stack).hasWarning('*', Match.stringLikeRegexp('syncSchedule rate\\(10 days\\)'));
  });
});

describe('instance classes', () => {
  test('a class without CPU credits gets no credit alarm and no credit graph', () => {
    const s = synth({ instanceType: 'm6g.large' });
    expect(alarms(s).filter((a) => alarmMetrics(a).some((m) => m.name === 'CPUCreditBalance'))).toEqual([]);
    expect(dashboardMetrics(s).filter((m) => m.name === 'CPUCreditBalance')).toEqual([]);
    expect(dashboardMetrics(s).some((m) => m.name === 'CPUUtilization')).toBe(true);
  });
});

describe('alarm topic subscriber', () => {
  test.each(everyMode)('%s: without alarmEmail, synth warns naming the setting', (_mode, s) => {
    Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp('alarmEmail'));
    const email = idsOf(s.json, 'AWS::SNS::Subscription').filter((id) => s.json.Resources[id].Properties.Protocol === 'email');
    expect(email).toEqual([]);
  });

  test('with alarmEmail, an email subscription and no warning', () => {
    const s = synth({ alarmEmail: 'ops@example.com' });
    Annotations.fromStack(s.stack).hasNoWarning('*', Match.stringLikeRegexp('alarmEmail'));
    s.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});

describe.each(everyMode)('%s: dashboard', (mode, s) => {
  const has = (namespace: string, name: string, extra: (m: any) => boolean = () => true) =>
    dashboardMetrics(s).some((m) => m.namespace === namespace && m.name === name && extra(m));

  test('one dashboard, its name an output', () => {
    expect(idsOf(s.json, 'AWS::CloudWatch::Dashboard')).toHaveLength(1);
    expect(s.json.Outputs.DashboardName.Value).toEqual(ref(idsOf(s.json, 'AWS::CloudWatch::Dashboard')[0]));
  });

  test('ingest rate, errors, latency p50/p99 (WriteLatency and Duration), Function URL 4xx/5xx', () => {
    expect(has(DEFAULT_NAMESPACE, 'EventsWritten', (m) => m.options.stat === 'Sum')).toBe(true);
    // Invalid input beside what was written; the old name would be a graph of a metric ingest-fn
    // no longer writes.
    expect(has(DEFAULT_NAMESPACE, 'EventsInvalid', (m) => m.options.stat === 'Sum')).toBe(true);
    expect(has(DEFAULT_NAMESPACE, 'EventsRejected')).toBe(false);
    expect(has('AWS/Lambda', 'Errors')).toBe(true);
    expect(has(DEFAULT_NAMESPACE, 'StoreUnavailable')).toBe(true);
    for (const stat of ['p50', 'p99']) {
      expect(has(DEFAULT_NAMESPACE, 'WriteLatency', (m) => m.options.stat === stat)).toBe(true);
      expect(has('AWS/Lambda', 'Duration', (m) => m.options.stat === stat)).toBe(true);
    }
    expect(has('AWS/Lambda', 'Url4xxCount', (m) => m.options.stat === 'Sum')).toBe(true);
    expect(has('AWS/Lambda', 'Url5xxCount', (m) => m.options.stat === 'Sum')).toBe(true);
  });

  test('queue depth and age, dead letters, every alarm\'s state', () => {
    expect(has('AWS/SQS', 'ApproximateNumberOfMessagesVisible')).toBe(true);
    expect(has('AWS/SQS', 'ApproximateAgeOfOldestMessage')).toBe(true);
    expect(dashboardMetrics(s).filter((m) => m.title === 'Dead letters')).toHaveLength(mode === 'public' ? 2 : 1);
    const status = dashboardOf(s).widgets.find((w: any) => w.type === 'alarm');
    expect(status.properties.alarms).toHaveLength(alarms(s).length);
  });

  test('connections against max_connections, CPU and credits, free storage', () => {
    const connections = graphTitled(s, /connections/i);
    const [, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    const maxConnections = Number(s.json.Resources[db.Properties.DBParameterGroupName.Ref].Properties.Parameters.max_connections);
    expect(connections.annotations.horizontal).toEqual(
      expect.arrayContaining([expect.objectContaining({ label: 'max_connections', value: maxConnections })]),
    );
    expect(has('AWS/RDS', 'DatabaseConnections')).toBe(true);
    expect(has('AWS/RDS', 'CPUUtilization')).toBe(true);
    expect(has('AWS/RDS', 'CPUCreditBalance')).toBe(true);
    expect(has('AWS/RDS', 'FreeStorageSpace')).toBe(true);
  });

  test('sync runs, free rule slots and publication age where the sync exists', () => {
    for (const name of ['SyncSucceeded', 'FreeRuleSlots', 'PublicationAgeSeconds', 'RulesAdded', 'FenceOpenings']) {
      expect({ name, shown: has(DEFAULT_NAMESPACE, name) }).toEqual({ name, shown: mode === 'public' });
    }
  });
});
