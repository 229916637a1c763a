// RDS Proxy in the vpc mode (`-c proxy=true`): every AWS rule the proxy depends on, on the
// synthesized templates of both dbAuth settings, each citing AWS's page.
import * as fs from 'fs';
import * as path from 'path';
import { runbookLink } from '../lib/alarms';
import { loadConfig } from '../lib/config';
import { ConfigError } from '../lib/context-values';
import { databaseParameters } from '../lib/database-parameters';
import { RDS_PROXY_UNAVAILABLE } from '../lib/regions';
import {
  ALL_MODES,
  Synthesized,
  findOne,
  functionNamed,
  idsOf,
  nagReport,
  reaches,
  referencedIds,
  statementsOf,
  synth,
  synthEveryMode,
} from './helpers';

const config = (values: Record<string, string>) => loadConfig((key) => values[key]);

const PROXY_MODES: [string, Record<string, string>][] = [
  ['vpc, iam, proxy', { mode: 'vpc', proxy: 'true' }],
  ['vpc, secret, proxy', { mode: 'vpc', dbAuth: 'secret', proxy: 'true' }],
];
const { synthesized, everyMode } = synthEveryMode(PROXY_MODES);
const iam = synthesized.get('vpc, iam, proxy') as Synthesized;
const secret = synthesized.get('vpc, secret, proxy') as Synthesized;

const proxyOf = (s: Synthesized) => findOne(s.json, 'AWS::RDS::DBProxy', () => true);
const targetGroupOf = (s: Synthesized) => findOne(s.json, 'AWS::RDS::DBProxyTargetGroup', () => true);
const instanceOf = (s: Synthesized) => findOne(s.json, 'AWS::RDS::DBInstance', () => true);
const parametersOf = (s: Synthesized) =>
  s.json.Resources[instanceOf(s)[1].Properties.DBParameterGroupName.Ref].Properties.Parameters;
const groupId = (id: string) => ({ 'Fn::GetAtt': [id, 'GroupId'] });

/** The anchors GitHub gives the headings of docs/operations.md (lower case, spaces to `-`, every
 *  character but letters, digits, `-` and `_` dropped; a repeated heading gets `-1`, `-2`, ...),
 *  where each alarm's description sends the operator. */
function operationsAnchors(): Set<string> {
  const text = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1].toLowerCase().replace(/ /g, '-').replace(/[^\p{L}\p{N}_-]/gu, '');
    const n = seen.get(slug) ?? 0;
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
    seen.set(slug, n + 1);
  }
  return anchors;
}

/** Every statement of a role's policies. */
function roleStatements(s: Synthesized, role: string): any[] {
  return idsOf(s.json, 'AWS::IAM::Policy')
    .map((id) => s.json.Resources[id].Properties)
    .filter((p) => (p.Roles ?? []).some((r: any) => r.Ref === role))
    .flatMap((p) => p.PolicyDocument.Statement);
}

/** The ingress (to `group`) and egress (from `group`) rules of a security group, as
 *  [peer logical id, port] pairs; a port taken from the instance's endpoint reads `db`. */
function rulesOf(s: Synthesized, group: string) {
  const port = (p: any) => (typeof p === 'number' ? p : p?.['Fn::GetAtt']?.[1] === 'Endpoint.Port' ? 'db' : JSON.stringify(p));
  const pick = (type: string, own: string, peer: string) =>
    Object.values(s.json.Resources)
      .filter((r) => r.Type === type && r.Properties?.[own]?.['Fn::GetAtt']?.[0] === group)
      .map((r) => [r.Properties[peer]?.['Fn::GetAtt']?.[0] ?? r.Properties.CidrIp, port(r.Properties.FromPort)]);
  const inline = s.json.Resources[group].Properties;
  return {
    ingress: [...pick('AWS::EC2::SecurityGroupIngress', 'GroupId', 'SourceSecurityGroupId'), ...(inline.SecurityGroupIngress ?? []).map((r: any) => [r.CidrIp, r.FromPort])],
    egress: [
      ...pick('AWS::EC2::SecurityGroupEgress', 'GroupId', 'DestinationSecurityGroupId'),
      ...(inline.SecurityGroupEgress ?? []).map((r: any) => [r.CidrIp, r.FromPort]),
    ],
  };
}

describe('config', () => {
  // "Your RDS Proxy must be in the same virtual private cloud (VPC) as the database. The proxy
  // can't be publicly accessible." https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html#rds-proxy.limitations
  test('the public mode is refused: a proxy is reachable only from inside its VPC', () => {
    expect(() => config({ proxy: 'true' })).toThrow(ConfigError);
    expect(() => config({ proxy: 'true' })).toThrow(
      /context proxy="true": RDS Proxy endpoints are reachable only from inside the database's VPC .*rds-proxy\.html.*mode=public.*-c mode=vpc/,
    );
    expect(() => synth({ proxy: 'true' })).toThrow(/mode=public runs ingest-fn outside any VPC/);
    expect(() => config({ mode: 'vpc', proxy: 'yes' })).toThrow(/proxy="yes": expected true or false/);
  });

  test('off by default, and proxyMaxConnectionsPercent means nothing without it', () => {
    expect(config({}).proxy).toBeUndefined();
    expect(config({ mode: 'vpc' }).proxy).toBeUndefined();
    expect(config({ mode: 'vpc', proxyMaxConnectionsPercent: '10' }).ingestConcurrency).toBe(90);
  });

  // MaxConnectionsPercent: "a percentage of the max_connections setting for the RDS DB instance
  // or Aurora DB cluster used by the target group", 1 to 100.
  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ConnectionPoolConfiguration.html
  test('the pool is max_connections less the reserve by default, and the reservation fits it', () => {
    expect(config({ mode: 'vpc', proxy: 'true' })).toMatchObject({
      proxy: { maxConnectionsPercent: 90, databaseConnections: 90 },
      ingestConcurrency: 90,
    });
    const big = config({ mode: 'vpc', proxy: 'true', dbMaxConnections: '1000', dbReservedConnections: '15' });
    expect(big.proxy).toEqual({ maxConnectionsPercent: 98, databaseConnections: 980 });
    expect(big.ingestConcurrency).toBe(900);
    const half = config({ mode: 'vpc', proxy: 'true', proxyMaxConnectionsPercent: '50', dbPoolMax: '2' });
    expect(half.proxy).toEqual({ maxConnectionsPercent: 50, databaseConnections: 50 });
    expect(half.ingestConcurrency).toBe(25);
  });

  test('a pool that eats into the reserve for migrate and operators is refused, with the arithmetic', () => {
    expect(() => config({ mode: 'vpc', proxy: 'true', proxyMaxConnectionsPercent: '95' })).toThrow(
      /proxyMaxConnectionsPercent="95": the proxy could open 95 of max_connections 100, into the 10 kept for migrate and operators .*; at most 90/,
    );
    expect(() => config({ mode: 'vpc', proxy: 'true', proxyMaxConnectionsPercent: '0' })).toThrow(
      /proxyMaxConnectionsPercent="0": expected 1 to 100/,
    );
    expect(() => config({ mode: 'vpc', proxy: 'true', dbMaxConnections: '10', dbReservedConnections: '5', proxyMaxConnectionsPercent: '5' })).toThrow(
      /5 % of max_connections 10 leaves the proxy no connection/,
    );
  });

  // Pinned sessions hold one database connection per client connection (docs/scaling.md, RDS Proxy).
  test('a reservation larger than the proxy\'s pool is refused, naming the pool', () => {
    expect(() => config({ mode: 'vpc', proxy: 'true', proxyMaxConnectionsPercent: '50', ingestConcurrency: '60' })).toThrow(
      /ingestConcurrency="60": 60 environments x 1 pinned sessions exceed the proxy's 50 database connections \(proxyMaxConnectionsPercent 50 % of dbMaxConnections 100\); at most 50/,
    );
    expect(config({ mode: 'vpc', proxy: 'true', proxyMaxConnectionsPercent: '50', ingestConcurrency: '50' }).ingestConcurrency).toBe(50);
    // Without the proxy the same reservation is the direct path's (100 - 10) / 1.
    expect(config({ mode: 'vpc', ingestConcurrency: '60' }).ingestConcurrency).toBe(60);
  });
});

describe('default templates', () => {
  test.each(ALL_MODES)('%s: no proxy, and ingest-fn logs in to the instance itself', (_mode, context) => {
    const s = synth(context);
    expect(idsOf(s.json, 'AWS::RDS::DBProxy')).toEqual([]);
    const [, fn] = functionNamed(s.json, 'ingest-fn');
    expect(fn.Properties.Environment.Variables.DB_HOST).toEqual({ 'Fn::GetAtt': [instanceOf(s)[0], 'Endpoint.Address'] });
    expect(s.json.Outputs.ProxyEndpoint).toBeUndefined();
  });
});

describe.each(everyMode)('%s', (mode, s) => {
  const [proxyId, proxy] = proxyOf(s);
  const [instanceId, instance] = instanceOf(s);
  const [ingestId, ingest] = functionNamed(s.json, 'ingest-fn');
  const env = ingest.Properties.Environment.Variables;
  const proxyRole = proxy.Properties.RoleArn['Fn::GetAtt'][0];

  // "This VPC should have a minimum of two subnets that are in different Availability Zones"
  // (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-network-prereqs.html);
  // subnets: "you must leave at least two subnets" (rds-proxy-creating.html); the default
  // endpoint "is provisioned across only two Availability Zones selected from the proxy's
  // configured subnets" (rds-proxy.html#rds-proxy.limitations). Same VPC as the database.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-creating.html
  test('RDS Proxy: in the database\'s isolated subnets, two AZs, MySQL, TLS required', () => {
    expect(proxy.Properties.EngineFamily).toBe('MYSQL');
    expect(proxy.Properties.RequireTLS).toBe(true);
    expect(proxy.Properties.DebugLogging).toBe(false);
    const subnets = proxy.Properties.VpcSubnetIds.map((x: any) => x.Ref);
    expect(subnets).toHaveLength(2);
    const azs = subnets.map((id: string) => JSON.stringify(s.json.Resources[id].Properties.AvailabilityZone));
    expect(new Set(azs).size).toBe(2);
    const dbSubnets = s.json.Resources[instance.Properties.DBSubnetGroupName.Ref].Properties.SubnetIds.map((x: any) => x.Ref);
    expect(subnets.sort()).toEqual(dbSubnets.sort());
    for (const id of subnets) expect(s.json.Resources[id].Properties.MapPublicIpOnLaunch).toBe(false);
    expect(proxy.Properties.DBProxyName).toMatch(/^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,59}$/);
  });

  // "Clients connecting to the proxy must authenticate using IAM credentials" when the instance
  // has IAM authentication (rds-proxy.html#rds-proxy.limitations); end-to-end IAM needs IAM
  // authentication on the database and "is supported for MySQL, PostgreSQL, and MariaDB engine
  // families only". https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-creating.html
  test('RDS Proxy: IAM required from clients; the database reached with IAM (iam) or the password account\'s secret (secret)', () => {
    expect(instance.Properties.EnableIAMDatabaseAuthentication).toBe(true);
    const statements = roleStatements(s, proxyRole);
    if (mode.includes('iam')) {
      expect(proxy.Properties.DefaultAuthScheme).toBe('IAM_AUTH');
      expect(proxy.Properties.Auth).toBeUndefined();
      expect(statements).toEqual([
        {
          Action: 'rds-db:connect',
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':rds-db:ap-northeast-1:123456789012:dbuser:', { 'Fn::GetAtt': [instanceId, 'DbiResourceId'] }, '/ingest_fn'],
            ],
          },
        },
      ]);
    } else {
      const ingestSecret = findOne(s.json, 'AWS::SecretsManager::Secret', (p) =>
        (p.GenerateSecretString?.SecretStringTemplate ?? '').includes('ingest_fn_pw'),
      );
      expect(proxy.Properties.DefaultAuthScheme).toBeUndefined();
      expect(proxy.Properties.Auth).toEqual([{ AuthScheme: 'SECRETS', IAMAuth: 'REQUIRED', SecretArn: { Ref: ingestSecret[0] } }]);
      // Reads exactly the password account's secret, never the admin's, and connects nowhere.
      expect(statements.flatMap((st) => [st.Action].flat()).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      for (const st of statements) expect(st.Resource).toEqual({ Ref: ingestSecret[0] });
    }
  });

  // The proxy reads the secret with its role (rds-proxy-iam-setup.html); GetSecretValue needs
  // "kms:Decrypt - required only if you use a customer-managed AWS KMS key to encrypt the secret.
  // You do not need this permission to use the account's default AWS managed CMK for Secrets
  // Manager." https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
  test('RDS Proxy: the secret the proxy reads uses the AWS-managed key, so its role needs no kms:Decrypt', () => {
    for (const id of idsOf(s.json, 'AWS::SecretsManager::Secret')) {
      expect(s.json.Resources[id].Properties.KmsKeyId).toBeUndefined();
    }
    expect(roleStatements(s, proxyRole).flatMap((st) => [st.Action].flat()).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  // IAM policies are separate resources: the proxy waits for its own, as every function does.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
  test('IAM: the proxy waits for its role policy, and ingest-fn for the proxy\'s target', () => {
    const policies = idsOf(s.json, 'AWS::IAM::Policy').filter((id) =>
      s.json.Resources[id].Properties.Roles.some((r: any) => r.Ref === proxyRole),
    );
    expect(policies).toHaveLength(1);
    expect(reaches(s.json, proxyId, policies[0])).toBe(true);
    expect(reaches(s.json, ingestId, targetGroupOf(s)[0])).toBe(true);
  });

  // An IAM token is signed for the host it logs in to, and rds-db:connect for a proxy names
  // the proxy: arn:aws:rds-db:region:account:dbuser:prx-<id>/user.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html
  test('ingest-fn: the proxy\'s endpoint, an IAM token, rds-db:connect on the proxy\'s resource and nothing on the instance\'s', () => {
    const user = mode.includes('iam') ? 'ingest_fn' : 'ingest_fn_pw';
    expect(env).toMatchObject({ DB_HOST: { 'Fn::GetAtt': [proxyId, 'Endpoint'] }, DB_PORT: '3306', DB_IAM_AUTH: 'true', DB_USER: user, DB_TLS: 'verify-identity' });
    expect(env.DB_SECRET_ARN).toBeUndefined();
    const statements = statementsOf(s.json, ingest);
    const connect = statements.filter((st) => [st.Action].flat().includes('rds-db:connect'));
    expect(connect).toHaveLength(1);
    const arn = JSON.stringify(connect[0].Resource);
    expect(arn).toContain(':dbuser:');
    expect(arn).toContain(`"${proxyId}","DBProxyArn"`);
    expect(arn).toContain(`/${user}`);
    expect(referencedIds(connect[0].Resource)).toEqual([proxyId]);
    expect(statements.flatMap((st) => [st.Action].flat()).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
  });

  test('migrate: still the instance itself, with the admin secret', () => {
    const [, migrate] = functionNamed(s.json, 'migrate');
    expect(migrate.Properties.Environment.Variables.DB_HOST).toEqual({ 'Fn::GetAtt': [instanceId, 'Endpoint.Address'] });
    expect(s.json.Outputs.ProxyEndpoint.Value).toEqual({ 'Fn::GetAtt': [proxyId, 'Endpoint'] });
  });

  // The proxy's security group "serves both for ingress from your applications to the proxy
  // and egress from the proxy to the database" (rds-proxy-creating.html); proxies listen on
  // 3306 for MySQL (rds-proxy.html#rds-proxy.limitations-my).
  test('EC2: ingest-fn -> proxy:3306 -> database:3306, and ingest-fn no longer reaches the database', () => {
    const proxyGroup = proxy.Properties.VpcSecurityGroupIds[0]['Fn::GetAtt'][0];
    const [ingestGroup] = ingest.Properties.VpcConfig.SecurityGroupIds.map((g: any) => g['Fn::GetAtt'][0]);
    const [migrate] = functionNamed(s.json, 'migrate').slice(1);
    const [migrateGroup] = migrate.Properties.VpcConfig.SecurityGroupIds.map((g: any) => g['Fn::GetAtt'][0]);
    const dbGroup = instance.Properties.VPCSecurityGroups[0]['Fn::GetAtt'][0];
    expect(proxy.Properties.VpcSecurityGroupIds).toEqual([groupId(proxyGroup)]);
    expect(rulesOf(s, proxyGroup)).toEqual({ ingress: [[ingestGroup, 3306]], egress: [[dbGroup, 'db']] });
    expect(rulesOf(s, ingestGroup)).toEqual({ ingress: [], egress: [[proxyGroup, 3306]] });
    expect(rulesOf(s, dbGroup).ingress.map(([peer]) => peer).sort()).toEqual([migrateGroup, proxyGroup].sort());
    expect(instance.Properties.Port).toBe('3306');
  });

  // MaxConnectionsPercent of max_connections (API_ConnectionPoolConfiguration.html); a pinned
  // session keeps its database connection "until the session ends" (rds-proxy-pinning.html).
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-pinning.html
  test('RDS Proxy: the pool serves ingest-fn\'s whole reservation pinned, beside the reserve, and idles clients out with wait_timeout', () => {
    const pool = targetGroupOf(s)[1].Properties.ConnectionPoolConfigurationInfo;
    const maxConnections = Number(parametersOf(s).max_connections);
    const connections = Math.floor((maxConnections * pool.MaxConnectionsPercent) / 100);
    expect(ingest.Properties.ReservedConcurrentExecutions * Number(env.DB_POOL_MAX)).toBeLessThanOrEqual(connections);
    expect(connections).toBeLessThan(maxConnections);
    expect(pool.SessionPinningFilters).toBeUndefined();
    expect(pool.InitQuery).toBeUndefined();
    expect(proxy.Properties.IdleClientTimeout).toBe(Number(parametersOf(s).wait_timeout));
    expect(targetGroupOf(s)[1].Properties.DBInstanceIdentifiers).toEqual([{ Ref: instanceId }]);
  });

  // Proxy metrics by ProxyName (dimension set 1), AvailabilityPercentage by ProxyName,
  // TargetGroup and TargetRole (dimension set 4).
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-monitoring.html
  test('CloudWatch: the pool, availability and refused-login alarms on the proxy\'s own dimensions', () => {
    const alarms = idsOf(s.json, 'AWS::CloudWatch::Alarm').map((id) => s.json.Resources[id].Properties);
    const on = (name: string) => {
      const found = alarms.filter(
        (a) => a.MetricName === name && a.Namespace === 'AWS/RDS' && a.Dimensions[0].Name === 'ProxyName',
      );
      expect(found).toHaveLength(1);
      return found[0];
    };
    const byName = [{ Name: 'ProxyName', Value: { Ref: proxyId } }];
    const pool = targetGroupOf(s)[1].Properties.ConnectionPoolConfigurationInfo.MaxConnectionsPercent;
    expect(on('DatabaseConnections').Dimensions).toEqual(byName);
    expect(on('DatabaseConnections').Threshold).toBe(Math.floor((Number(parametersOf(s).max_connections) * pool) / 100));
    expect(on('ClientConnectionsSetupFailedAuth')).toMatchObject({ Dimensions: byName, Statistic: 'Sum', Threshold: 1 });
    expect(on('AvailabilityPercentage')).toMatchObject({
      Dimensions: [
        { Name: 'ProxyName', Value: { Ref: proxyId } },
        { Name: 'TargetGroup', Value: 'default' },
        { Name: 'TargetRole', Value: 'READ_WRITE' },
      ],
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 100,
    });
    // Period 60 and Period x EvaluationPeriods within a day, as PutMetricAlarm takes them, and
    // each notifies the one topic when it fires and when it clears.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    // Each names its runbook: the anchor of its own heading in docs/operations.md.
    const topic = findOne(s.json, 'AWS::SNS::Topic', () => true)[0];
    const anchors = operationsAnchors();
    for (const [metric, runbook] of [
      ['DatabaseConnections', 'proxypoolfull'],
      ['ClientConnectionsSetupFailedAuth', 'proxyclientauthfailures'],
      ['AvailabilityPercentage', 'proxyunavailable'],
    ]) {
      const a = on(metric);
      expect(a.Period % 60).toBe(0);
      expect(a.Period * a.EvaluationPeriods).toBeLessThanOrEqual(86400);
      expect(a.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.OKActions).toEqual([{ Ref: topic }]);
      expect(a.AlarmDescription).toMatch(new RegExp(`\\. Runbook: docs/operations\\.md#${runbook}$`));
      expect(anchors).toContain(runbook);
    }
    // Every other alarm of the stack too, and the link is GitHub's slug of the heading.
    expect(runbookLink('ProxyPoolFull')).toBe('docs/operations.md#proxypoolfull');
    expect(runbookLink('A Runbook (v2)')).toBe('docs/operations.md#a-runbook-v2');
    for (const a of alarms) {
      const link = /Runbook: docs\/operations\.md#([a-z0-9_-]+)$/.exec(a.AlarmDescription);
      expect(link).not.toBeNull();
      expect(anchors).toContain(link![1]);
    }
    // The instance's own connection alarm stays, on the instance.
    const instanceAlarm = alarms.filter((a) => a.MetricName === 'DatabaseConnections' && a.Dimensions[0].Name === 'DBInstanceIdentifier');
    expect(instanceAlarm).toHaveLength(1);
    expect(alarms).toHaveLength(8 + 3);
  });

  test('dashboard: sessions, pinned sessions against the pool, latency, availability', () => {
    const [, dashboard] = findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true);
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of ['ClientConnections', 'DatabaseConnectionsCurrentlySessionPinned', 'QueryDatabaseResponseLatency', 'DatabaseConnectionsBorrowLatency', 'AvailabilityPercentage']) {
      expect({ name, shown: body.includes(`\\"AWS/RDS\\",\\"${name}\\",\\"ProxyName\\"`) }).toEqual({ name, shown: true });
    }
    expect(body).toContain('ProxyPoolFull alarm');
  });

  test('cdk-nag: no finding, none acknowledged for the proxy', () => {
    const report = nagReport(s);
    expect(report.conclusion).toBe('success');
    expect(report.violations).toEqual([]);
    expect(report.suppressedViolations.filter((v: any) => JSON.stringify(v).includes('Proxy'))).toEqual([]);
  });
});

test('the secret the proxy uses is the one migrate sets the password account from', () => {
  const [, proxy] = proxyOf(secret);
  const [, migrate] = functionNamed(secret.json, 'migrate');
  expect(migrate.Properties.Environment.Variables.DB_INGEST_SECRET_ARN).toEqual(proxy.Properties.Auth[0].SecretArn);
  expect(iam.json.Resources[proxyOf(iam)[0]].Properties.Auth).toBeUndefined();
});

test('wait_timeout is what the proxy idles clients out with', () => {
  expect(Number(databaseParameters(100).wait_timeout)).toBe(proxyOf(iam)[1].Properties.IdleClientTimeout);
});

/** What CloudWatch makes of one alarm over per-minute data points published by each proxy node:
 *  the alarm's statistic aggregates the nodes' points of each period (the proxy "publishes these
 *  metrics for each underlying Amazon EC2 instance associated with a proxy"), and the alarm is in
 *  ALARM when DatapointsToAlarm of the last EvaluationPeriods aggregates breach the threshold.
 *  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation */
function evaluate(alarm: any, perNodePerMinute: number[][]): 'ALARM' | 'OK' {
  const minutesPerPeriod = alarm.Period / 60;
  const periods: number[] = [];
  for (let start = 0; start + minutesPerPeriod <= perNodePerMinute.length; start += minutesPerPeriod) {
    const points = perNodePerMinute.slice(start, start + minutesPerPeriod).flat();
    const aggregate =
      alarm.Statistic === 'Sum'
        ? points.reduce((a, b) => a + b, 0)
        : alarm.Statistic === 'Maximum'
          ? Math.max(...points)
          : points.reduce((a, b) => a + b, 0) / points.length;
    periods.push(aggregate);
  }
  const breaches = (v: number) =>
    alarm.ComparisonOperator === 'GreaterThanOrEqualToThreshold' ? v >= alarm.Threshold : v > alarm.Threshold;
  const last = periods.slice(-alarm.EvaluationPeriods);
  return last.filter(breaches).length >= (alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods) ? 'ALARM' : 'OK';
}

describe('ProxyPoolFull', () => {
  // DatabaseConnections: "The current number of database connections. This metric is reported every
  // minute. The most useful statistic for this metric is Sum." Valid period: 1 minute. "RDS
  // publishes these metrics for each underlying Amazon EC2 instance associated with a proxy. A
  // single proxy might be served by more than one EC2 instance. Use CloudWatch statistics to
  // aggregate the values for a proxy across all the associated instances."
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.monitoring.html
  const alarm = (s: Synthesized) =>
    findOne(s.json, 'AWS::CloudWatch::Alarm', (p) => p.MetricName === 'DatabaseConnections' && p.Dimensions[0].Name === 'ProxyName')[1]
      .Properties;

  test.each(everyMode)('%s: Sum over one minute, at the pool\'s size', (_mode, s) => {
    const a = alarm(s);
    const pool = Math.floor((Number(parametersOf(s).max_connections) * targetGroupOf(s)[1].Properties.ConnectionPoolConfigurationInfo.MaxConnectionsPercent) / 100);
    expect(a).toMatchObject({ Statistic: 'Sum', Period: 60, Threshold: pool, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(a.Namespace).toBe('AWS/RDS');
  });

  test('fires when the nodes together hold the pool for 3 of 5 minutes, and not one connection below', () => {
    const a = alarm(iam);
    const pool = a.Threshold;
    expect(pool).toBe(90);
    // Two proxy nodes sharing the pool: 45 + 45 each minute.
    const full = Array.from({ length: 5 }, () => [pool / 2, pool / 2]);
    const below = Array.from({ length: 5 }, () => [pool / 2, pool / 2 - 1]);
    expect(evaluate(a, full)).toBe('ALARM');
    expect(evaluate(a, below)).toBe('OK');
    // Three full minutes of five are enough; two are not.
    expect(evaluate(a, [...below.slice(0, 2), ...full.slice(0, 3)])).toBe('ALARM');
    expect(evaluate(a, [...below.slice(0, 3), ...full.slice(0, 2)])).toBe('OK');
    // One node alone holding the pool fires too.
    expect(evaluate(a, Array.from({ length: 5 }, () => [pool, 0]))).toBe('ALARM');
    // The statistic the alarm used before could not fire on a shared pool: Maximum sees one node.
    expect(evaluate({ ...a, Statistic: 'Maximum' }, full)).toBe('OK');
    // And a longer period would add minutes together, firing at a fifth of the pool.
    expect(evaluate({ ...a, Period: 300, EvaluationPeriods: 1, DatapointsToAlarm: 1 }, Array.from({ length: 5 }, () => [9, 9]))).toBe('ALARM');
  });

  test('the dashboard graphs the same Sum, per minute whatever the range', () => {
    const [, dashboard] = findOne(iam.json, 'AWS::CloudWatch::Dashboard', () => true);
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    expect(body).toContain('connections * 60 / PERIOD(connections)');
    expect(body).toMatch(/\\"AWS\/RDS\\",\\"DatabaseConnections\\",\\"ProxyName\\",[^\]]*\\"stat\\":\\"Sum\\"/);
  });
});

describe('regions', () => {
  // "Supported Regions and Aurora DB engines for Amazon RDS Proxy", Amazon RDS Proxy with Aurora
  // MySQL: Asia Pacific (New Zealand) and Asia Pacific (Taipei) read "Not available"; RDS's own
  // page has a table per engine (RDS Proxy with RDS for MySQL).
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.Aurora_Fea_Regions_DB-eng.Feature.RDS_Proxy.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.RDS_Fea_Regions_DB-eng.Feature.RDSProxy.html
  test.each([
    ['mysql', {}, 'UserGuide/Concepts.RDS_Fea_Regions_DB-eng.Feature.RDSProxy.html', 'RDS for MySQL'],
    ['aurora-mysql', { engine: 'aurora-mysql' }, 'AuroraUserGuide/Concepts.Aurora_Fea_Regions_DB-eng.Feature.RDS_Proxy.html', 'Aurora MySQL'],
  ])('%s: proxy=true where RDS Proxy is not offered fails at synth, citing the list', (engine, extra, page, label) => {
    const values = { ...extra, mode: 'vpc', proxy: 'true' } as Record<string, string>;
    for (const region of RDS_PROXY_UNAVAILABLE[engine as 'mysql' | 'aurora-mysql']) {
      expect(() => loadConfig((k) => values[k], region)).toThrow(
        new RegExp(`context proxy="true": RDS Proxy for ${label} is "Not available" in ${region} \\(https://docs\\.aws\\.amazon\\.com/AmazonRDS/latest/${page.replace(/\./g, '\\.')}\\)`),
      );
    }
    expect(RDS_PROXY_UNAVAILABLE[engine as 'mysql' | 'aurora-mysql']).toEqual(['ap-east-2', 'ap-southeast-6']);
    // Elsewhere, and without a region at synth, the proxy stays.
    expect(loadConfig((k) => values[k], 'ap-northeast-1').proxy).toBeDefined();
    expect(loadConfig((k) => values[k], undefined).proxy).toBeDefined();
    // Without proxy=true the region is no concern of the proxy's.
    const withoutProxy = { ...extra, mode: 'vpc' } as Record<string, string>;
    expect(loadConfig((k) => withoutProxy[k], 'ap-east-2').proxy).toBeUndefined();
  });
});
