// engine=aurora-mysql: the Aurora MySQL 3 cluster the stack deploys instead of the RDS MySQL
// instance. Each test is named after the AWS rule it holds the templates to and cites where AWS
// documents it; the default engine's own rules stay in day-two.test.ts and aws-rules.test.ts.
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../lib/config';
import {
  AURORA_MYSQL_80_CLUSTER_PARAMETERS,
  AURORA_MYSQL_80_INSTANCE_PARAMETERS,
  AURORA_MYSQL_LOG_EXPORTS,
  AURORA_PINNED_MINORS,
  AURORA_RESUME_SECONDS,
  DEFAULT_AURORA_VERSION,
  SERVERLESS_V2_MAX_CONNECTIONS,
  auroraParameterProblem,
  auroraPinnedMinor,
  ltsEndOfStandardSupport,
  serverlessV2DefaultMaxConnections,
} from '../lib/aurora-support';
import { INGEST_WRITE_ATTEMPTS, PAUSED_CONNECT_TIMEOUT_MS, ingestFunctionTimeoutMs } from '../lib/engine-config';
import { SUPPORT_WARNING_DAYS, daysOfStandardSupportLeft } from '../lib/engine-support';
import { Synthesized, findOne, functionNamed, idsOf, reaches, statementsOf, synth, synthEveryMode, triggerOf } from './helpers';

const AURORA = { engine: 'aurora-mysql' };
const AURORA_MODES: [string, Record<string, string>][] = [
  ['aurora, public, iam', { ...AURORA }],
  ['aurora, public, secret', { ...AURORA, dbAuth: 'secret' }],
  ['aurora, vpc, iam', { ...AURORA, mode: 'vpc' }],
  ['aurora, vpc, secret', { ...AURORA, mode: 'vpc', dbAuth: 'secret' }],
];
const { synthesized, everyMode } = synthEveryMode(AURORA_MODES);
const publicIam = synthesized.get('aurora, public, iam') as Synthesized;
// Auto-pause needs the vpc mode (a public writer is woken by every scan of its port).
const paused = synth({ ...AURORA, mode: 'vpc', minCapacity: '0', auroraReaders: '1' });
const provisioned = synth({ ...AURORA, auroraInstanceClass: 'r7g.large', protectDatabase: 'false' });
const mysql = synth({});

const clusterOf = (s: Synthesized) => findOne(s.json, 'AWS::RDS::DBCluster', () => true);
const instancesOf = (s: Synthesized) =>
  idsOf(s.json, 'AWS::RDS::DBInstance').map((id) => [id, s.json.Resources[id]] as [string, any]);
const config = (values: Record<string, string>) => () => loadConfig((k) => values[k]);
const envOf = (s: Synthesized, binary: string) => functionNamed(s.json, binary)[1].Properties.Environment.Variables;

describe.each(everyMode)('%s', (mode, s) => {
  // A cluster's instances take the engine, storage and IAM settings from the cluster; Serverless
  // v2 instances are db.serverless in a cluster with a ServerlessV2ScalingConfiguration.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.requirements.html
  test('Aurora: one MySQL 3 cluster, pinned, one db.serverless writer, no RDS instance of its own', () => {
    const [, cluster] = clusterOf(s);
    expect(cluster.Properties).toMatchObject({
      Engine: 'aurora-mysql',
      EngineVersion: `8.0.mysql_aurora.${DEFAULT_AURORA_VERSION}`,
      AutoMinorVersionUpgrade: false,
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      DatabaseName: 'ingest',
      Port: 3306,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
    });
    const instances = instancesOf(s);
    expect(instances).toHaveLength(1);
    expect(instances[0][1].Properties).toMatchObject({
      DBClusterIdentifier: { Ref: clusterOf(s)[0] },
      DBInstanceClass: 'db.serverless',
      AutoMinorVersionUpgrade: false,
      // The same CA as the instance's, so DB_CA_BUNDLE and verify-identity carry over.
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
    });
    expect(instances[0][1].Properties.AllocatedStorage).toBeUndefined();
  });

  // "You can set the require_secure_transport parameter value by updating the DB cluster
  // parameter group ... The parameter isn't available in DB instance parameter groups", ON/OFF.
  // max_connections, wait_timeout and the slow query log are instance-level parameters.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Security.html#AuroraMySQL.Security.SSL.RequireSSL
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Reference.ParameterGroups.html
  test('Aurora: TLS enforced in the cluster group (ON), every parameter in the group of its level', () => {
    const [, cluster] = clusterOf(s);
    const clusterGroup = s.json.Resources[cluster.Properties.DBClusterParameterGroupName.Ref];
    expect(clusterGroup.Type).toBe('AWS::RDS::DBClusterParameterGroup');
    expect(clusterGroup.Properties.Family).toBe('aurora-mysql8.0');
    expect(clusterGroup.Properties.Parameters.require_secure_transport).toBe('ON');
    for (const [name, value] of Object.entries<string>(clusterGroup.Properties.Parameters)) {
      expect({ name, problem: auroraParameterProblem('cluster', name, value) }).toEqual({ name, problem: undefined });
      expect(AURORA_MYSQL_80_CLUSTER_PARAMETERS[name].applyType).toBe('dynamic');
    }
    for (const [, instance] of instancesOf(s)) {
      const group = s.json.Resources[instance.Properties.DBParameterGroupName.Ref];
      expect(group.Type).toBe('AWS::RDS::DBParameterGroup');
      expect(group.Properties.Family).toBe('aurora-mysql8.0');
      expect(group.Properties.Parameters.require_secure_transport).toBeUndefined();
      expect(Object.keys(group.Properties.Parameters).length).toBeGreaterThanOrEqual(4);
      for (const [name, value] of Object.entries<string>(group.Properties.Parameters)) {
        expect({ name, problem: auroraParameterProblem('instance', name, value) }).toEqual({ name, problem: undefined });
      }
    }
  });

  // "arn:aws:rds-db:region:account-id:dbuser:DbClusterResourceId/db-user-name": for Aurora the
  // resource id is the cluster's.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
  test('IAM: ingest-fn may connect as ingest_fn on the cluster resource id, and only with dbAuth=iam', () => {
    const [clusterId] = clusterOf(s);
    const [, fn] = functionNamed(s.json, 'ingest-fn');
    const connects = statementsOf(s.json, fn).filter((st) => [st.Action].flat().includes('rds-db:connect'));
    if (mode.endsWith('secret')) {
      expect(connects).toEqual([]);
      return;
    }
    expect(connects).toHaveLength(1);
    const parts = connects[0].Resource['Fn::Join'][1];
    expect(parts).toContainEqual({ 'Fn::GetAtt': [clusterId, 'DBClusterResourceId'] });
    expect(parts[parts.length - 1]).toBe('/ingest_fn');
  });

  // The public mode opens the writer to the region's EC2 ranges through the groups sg-sync-fn
  // fills, exactly as it does the instance; the vpc mode keeps it private. A cluster's groups are
  // its instances' ("VpcSecurityGroupIds: A list of EC2 VPC security groups to associate with
  // this DB cluster").
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbcluster.html
  test('VPC: public writer behind the synced pool in the public mode, private in the vpc mode', () => {
    const [, cluster] = clusterOf(s);
    const groups = cluster.Properties.VpcSecurityGroupIds.map((g: any) => g['Fn::GetAtt'][0]);
    const subnetGroup = s.json.Resources[cluster.Properties.DBSubnetGroupName.Ref].Properties;
    const subnetNames = JSON.stringify(subnetGroup.SubnetIds);
    const [, writer] = instancesOf(s)[0];
    if (mode.includes('public')) {
      expect(writer.Properties.PubliclyAccessible).toBe(true);
      expect(groups).toEqual(['DatabaseSyncedGroup1D160BFB1', 'DatabaseSyncedGroup2D8722715', 'DatabaseSyncedGroup39EB610F6']);
      expect(subnetNames).toContain('publicSubnet');
      // The pool sg-sync-fn manages is these same groups.
      const [, sync] = functionNamed(s.json, 'sg-sync-fn');
      expect(JSON.stringify(sync.Properties.Environment)).toContain('DatabaseSyncedGroup1D160BFB1');
    } else {
      expect(writer.Properties.PubliclyAccessible).toBe(false);
      expect(groups).toHaveLength(1);
      expect(subnetNames).toContain('isolatedSubnet');
    }
  });

  // Aurora MySQL exports "audit | error | general | instance | slowquery | iam-db-auth-error";
  // the slow query log reaches CloudWatch only from a file (log_output=FILE), and log groups keep
  // data forever unless given a retention.
  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Integrating.CloudWatch.html
  test('CloudWatch Logs: every export is an Aurora MySQL log type, turned on, kept 30 days', () => {
    const [clusterId, cluster] = clusterOf(s);
    const exports: string[] = cluster.Properties.EnableCloudwatchLogsExports;
    for (const log of exports) expect(AURORA_MYSQL_LOG_EXPORTS).toContain(log);
    expect(exports.includes('iam-db-auth-error')).toBe(!mode.endsWith('secret'));
    const group = s.json.Resources[instancesOf(s)[0][1].Properties.DBParameterGroupName.Ref].Properties.Parameters;
    expect(exports).toContain('slowquery');
    expect(group).toMatchObject({ slow_query_log: '1', log_output: 'FILE' });
    const retained = idsOf(s.json, 'Custom::LogRetention').map((id) => s.json.Resources[id].Properties);
    for (const log of exports) {
      const r = retained.find((p) => JSON.stringify(p.LogGroupName).includes(`/${log}"`));
      expect({ log, retention: r?.RetentionInDays }).toEqual({ log, retention: 30 });
      expect(JSON.stringify(r.LogGroupName)).toContain(`{"Ref":"${clusterId}"}`);
    }
  });

  // migrate logs in through the writer: the cluster being created is not enough, its writer
  // instance must exist (a cluster without instances has no endpoint that answers).
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-dependson.html
  test('CloudFormation: migrate runs after the cluster and its writer; both functions use the writer endpoint', () => {
    const [clusterId] = clusterOf(s);
    const [writerId] = instancesOf(s)[0];
    const [migrateId] = functionNamed(s.json, 'migrate');
    const [triggerId] = triggerOf(s.json, migrateId);
    expect(reaches(s.json, triggerId, clusterId)).toBe(true);
    expect(reaches(s.json, triggerId, writerId)).toBe(true);
    for (const binary of ['migrate', 'ingest-fn']) {
      expect(envOf(s, binary).DB_HOST).toEqual({ 'Fn::GetAtt': [clusterId, 'Endpoint.Address'] });
      expect(envOf(s, binary).DB_TLS).toBe('verify-identity');
      // minCapacity 0.5: the cluster never pauses, ingest-fn keeps its own connect timeout.
      expect(envOf(s, binary).DB_CONNECT_TIMEOUT_MS).toBeUndefined();
    }
  });

  // "For Aurora, use WRITER or READER role metrics to set up alarms instead of relying on
  // metrics for specific DB instances": connections by the writer role. The cluster volume grows
  // by itself, so there is no FreeStorageSpace alarm. Capacity: AWS's metrics reference lists
  // ACUUtilization among the instance-level metrics, and the Serverless v2 page queries it "--dimensions
  // Name=DBInstanceIdentifier"; ServerlessDatabaseCapacity is documented for the cluster too: "As a
  // cluster-level metric, it represents the average of the ServerlessDatabaseCapacity values of all
  // the Aurora Serverless v2 DB instances in the cluster". The capacity alarm watches that, at 90 %
  // of maxCapacity in ACUs.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/creating_alarms.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.viewing.monitoring
  test('CloudWatch: connections on the writer role, capacity on the cluster\'s documented dimension, no free storage', () => {
    const [clusterId] = clusterOf(s);
    const alarms = idsOf(s.json, 'AWS::CloudWatch::Alarm').map((id) => s.json.Resources[id].Properties);
    const rds = alarms.filter((a) => a.Namespace === 'AWS/RDS');
    expect(rds.map((a) => a.MetricName).sort()).toEqual(['DatabaseConnections', 'ServerlessDatabaseCapacity']);
    const connections = rds.find((a) => a.MetricName === 'DatabaseConnections');
    expect(connections.Dimensions).toEqual([
      { Name: 'DBClusterIdentifier', Value: { Ref: clusterId } },
      { Name: 'Role', Value: 'WRITER' },
    ]);
    expect(connections.Threshold).toBe(130);
    const capacity = rds.find((a) => a.MetricName === 'ServerlessDatabaseCapacity');
    expect(capacity).toMatchObject({
      Dimensions: [{ Name: 'DBClusterIdentifier', Value: { Ref: clusterId } }],
      Statistic: 'Average',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 3.6,
    });
    // No alarm on ACUUtilization by a dimension set AWS does not document for it.
    expect(alarms.filter((a) => a.MetricName === 'ACUUtilization')).toEqual([]);
    const body = JSON.stringify(findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true)[1].Properties.DashboardBody);
    expect(body).toContain('ServerlessDatabaseCapacity');
    // The dashboard shows ACUUtilization per instance, by DBInstanceIdentifier.
    for (const [instanceId] of instancesOf(s)) {
      expect(body).toContain(`\\"ACUUtilization\\",\\"DBInstanceIdentifier\\",\\"",{"Ref":"${instanceId}"}`);
    }
    expect(body).not.toContain('ACUUtilization\\",\\"DBClusterIdentifier');
    expect(body).not.toContain('FreeStorageSpace');
  });
});

describe('connections', () => {
  // "The following table shows the default values for max_connections for Aurora Serverless v2
  // based on the maximum ACU value" (Aurora MySQL column); Aurora holds it constant "so that
  // connections aren't dropped when the DB instance scales down".
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.max-connections
  test('Aurora: max_connections follows maxCapacity (AWS\'s table) unless dbMaxConnections is set', () => {
    expect(SERVERLESS_V2_MAX_CONNECTIONS).toEqual([[1, 90], [4, 135], [8, 1000], [16, 2000], [32, 3000], [64, 4000], [128, 5000]]);
    // Between rows and above the table: the row below, never more than Aurora gives.
    expect([1, 2, 4, 6, 8, 100, 128, 256].map(serverlessV2DefaultMaxConnections)).toEqual([90, 90, 135, 135, 1000, 4000, 5000, 5000]);
    const byDefault = config(AURORA)();
    expect(byDefault).toMatchObject({ dbMaxConnections: 135, ingestConcurrency: 125 });
    expect(config({ ...AURORA, maxCapacity: '16' })()).toMatchObject({ dbMaxConnections: 2000, ingestConcurrency: 900 });
    // Not written: Aurora computes it, and a later maxCapacity moves it.
    const group = (s: Synthesized) => s.json.Resources[instancesOf(s)[0][1].Properties.DBParameterGroupName.Ref].Properties.Parameters;
    expect(group(publicIam).max_connections).toBeUndefined();
    const fixed = synth({ ...AURORA, dbMaxConnections: '400' });
    expect(group(fixed).max_connections).toBe('400');
    expect(functionNamed(fixed.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(390);
    // A provisioned class has no ACUs to derive it from: the stack fixes it as for the instance.
    expect(group(provisioned).max_connections).toBe('100');
    expect(AURORA_MYSQL_80_INSTANCE_PARAMETERS.max_connections.applyType).toBe('static');
  });

  test('Aurora: a reserved concurrency the cluster cannot serve is refused at synth, with the arithmetic', () => {
    expect(config({ ...AURORA, ingestConcurrency: '126' })).toThrow(
      'context ingestConcurrency="126": 126 environments x 1 connections exceed max_connections 135 ' +
        "(Aurora Serverless v2's default at maxCapacity 4 ACUs) - dbReservedConnections 10; at most 125",
    );
    expect(config({ ...AURORA, maxCapacity: '1', dbPoolMax: '2', ingestConcurrency: '41' })).toThrow(/max_connections 90 .* at most 40/);
    expect(config({ ...AURORA, dbMaxConnections: '50', ingestConcurrency: '41' })).toThrow(/exceed dbMaxConnections 50 - dbReservedConnections 10; at most 40/);
    expect(config({ ...AURORA, dbMaxConnections: '16001' })).toThrow(/dbMaxConnections="16001": expected 10 to 16000/);
    expect(() => synth({ ...AURORA, ingestConcurrency: '126' })).toThrow(/at most 125/);
  });
});

describe('capacity changes and reboots', () => {
  // Changing the capacity range: "The max_connections parameter still reflects the value from the
  // former maximum capacity. Resetting that value requires rebooting the DB instance, because
  // max_connections is a static parameter for Aurora Serverless v2." ingest-fn's reserved
  // concurrency changes with the deploy, so it follows the max_connections the running cluster
  // has (dbMaxConnectionsApplied) until the operator states the new one after the reboot.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2-examples-setting-capacity-range-walkthrough-ams
  test('Aurora: raising maxCapacity keeps ingest concurrency at the running max_connections, and synth names the order', () => {
    // Deploy 1: maxCapacity 4, 135 connections; the operator raises it to 8 (1000) and states 135.
    const raise = { ...AURORA, maxCapacity: '8', dbMaxConnectionsApplied: '135' };
    expect(config(raise)()).toMatchObject({
      dbMaxConnections: 135,
      dbMaxConnectionsConfigured: 1000,
      dbMaxConnectionsApplied: 135,
      ingestConcurrency: 125,
    });
    const s = synth(raise);
    expect(functionNamed(s.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(125);
    expect(clusterOf(s)[1].Properties.ServerlessV2ScalingConfiguration.MaxCapacity).toBe(8);
    Annotations.fromStack(s.stack).hasWarning(
      '*',
      Match.stringLikeRegexp(
        'running cluster has 135 \\(dbMaxConnectionsApplied\\).*configures 1000.*1\\. deploy the capacity.*2\\. reboot the writer.*3\\. deploy again with -c dbMaxConnectionsApplied=1000',
      ),
    );
    // More than the running server allows is refused, naming it.
    expect(config({ ...raise, ingestConcurrency: '126' })).toThrow(/max_connections 135 \(dbMaxConnectionsApplied.*at most 125/);
    // Deploy 3, after the reboot: the new value, and no warning.
    const after = synth({ ...AURORA, maxCapacity: '8', dbMaxConnectionsApplied: '1000' });
    expect(functionNamed(after.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(900);
    Annotations.fromStack(after.stack).hasNoWarning('*', Match.stringLikeRegexp('dbMaxConnectionsApplied'));
    // Lowering: the lower configured value rules at once, and the reboot is still named.
    const lower = config({ ...AURORA, dbMaxConnections: '200', dbMaxConnectionsApplied: '400' })();
    expect(lower).toMatchObject({ dbMaxConnections: 200, ingestConcurrency: 190 });
    expect(lower.notices.map((n) => n.id)).toContain('max-connections-pending-reboot');
    // The proxy's pool follows the running value too.
    const proxied = config({ ...raise, mode: 'vpc', proxy: 'true' })();
    expect(proxied.proxy?.databaseConnections).toBeLessThanOrEqual(135);
    // RDS MySQL applies max_connections without a reboot: the setting is Aurora's only.
    expect(config({ dbMaxConnectionsApplied: '100' })).toThrow(/dbMaxConnectionsApplied="100": applies only to engine=aurora-mysql.*dynamic/);
  });
});

describe('capacity and auto-pause', () => {
  // ServerlessV2ScalingConfiguration: ACUs "in half-step increments"; MinCapacity from 0 where
  // auto-pause is supported; MaxCapacity up to 256, and "must be higher than 0.5 ACUs ... Use a
  // value of 1 or higher"; SecondsUntilAutoPause "between 300 seconds (five minutes) and 86,400".
  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ServerlessV2ScalingConfiguration.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.max_capacity_considerations
  test('Aurora: capacities AWS refuses are refused at synth', () => {
    expect(config({ ...AURORA, maxCapacity: '0.5' })).toThrow(/maxCapacity="0.5": expected 1 to 256 ACUs in steps of 0.5/);
    expect(config({ ...AURORA, maxCapacity: '257' })).toThrow(/maxCapacity="257"/);
    expect(config({ ...AURORA, minCapacity: '1.25' })).toThrow(/minCapacity="1.25": expected 0 to 256 ACUs in steps of 0.5/);
    expect(config({ ...AURORA, minCapacity: '8', maxCapacity: '4' })).toThrow(/maxCapacity="4": below minCapacity 8/);
    expect(config({ ...AURORA, minCapacity: '0', autoPauseSeconds: '299' })).toThrow(/autoPauseSeconds="299": expected 300 to 86400/);
    expect(config({ ...AURORA, autoPauseSeconds: '600' })).toThrow(/applies only to a serverless cluster with minCapacity=0/);
    expect(config({ ...AURORA, minCapacity: '2.5', maxCapacity: '64' })().aurora).toMatchObject({ minCapacity: 2.5, maxCapacity: 64 });
    // A provisioned cluster has no capacity range to set.
    expect(config({ ...AURORA, auroraInstanceClass: 'r7g.large', maxCapacity: '8' })).toThrow(
      /maxCapacity="8": applies only to auroraInstanceClass=serverless, and it is r7g.large/,
    );
    expect(clusterOf(provisioned)[1].Properties.ServerlessV2ScalingConfiguration).toBeUndefined();
  });

  // Auto-pause (a minimum of 0 ACUs) arrived with Aurora MySQL 3.08.0.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.how-it-works.html#aurora-serverless-v2.how-it-works.capacity
  test('Aurora: minCapacity 0 needs a version with auto-pause', () => {
    expect(config({ ...AURORA, minCapacity: '0', auroraVersion: '3.07.1' })).toThrow(
      /minCapacity="0": auto-pause .* needs Aurora MySQL 3.08.0 or later, and auroraVersion is 3.07.1/,
    );
    expect(config({ ...AURORA, mode: 'vpc', minCapacity: '0', auroraVersion: '3.08.0' })().aurora?.minCapacity).toBe(0);
  });

  // "Because the typical time to resume might be approximately 15 seconds, we recommend that you
  // adjust any client timeout settings to be longer than 15 seconds"; "If an Aurora Serverless v2
  // instance remains paused more than 24 hours ... the resume time can be 30 seconds or longer ...
  // we recommend setting connection timeouts to 30 seconds or more"; "We recommend implementing
  // retry logic for connections ... For example, you might retry any failed connection three
  // times." The connect timeout is 30 s where the cluster can pause, and ingest-fn's timeout holds
  // every attempt its store makes of one write (one more after a lost connection, one more after a
  // refused login), each a connect and a write (DB_WRITE_TIMEOUT_MS, 5 s).
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-resuming
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-waking
  test('Aurora: with minCapacity 0 the connect timeout is 30 s and ingest-fn\'s timeout holds every attempt', () => {
    const [, cluster] = clusterOf(paused);
    expect(cluster.Properties.ServerlessV2ScalingConfiguration).toEqual({ MinCapacity: 0, MaxCapacity: 4, SecondsUntilAutoPause: 300 });
    expect(AURORA_RESUME_SECONDS).toMatchObject({ seconds: 15, afterADaySeconds: 30, recommendedConnectTimeoutSeconds: 30 });
    expect(PAUSED_CONNECT_TIMEOUT_MS).toBe(30_000);
    for (const binary of ['ingest-fn', 'migrate']) {
      expect(Number(envOf(paused, binary).DB_CONNECT_TIMEOUT_MS)).toBe(PAUSED_CONNECT_TIMEOUT_MS);
    }
    // Three attempts of a 30 s connect and a 5 s write, and 5 s of margin: 110 s.
    const [, ingest] = functionNamed(paused.json, 'ingest-fn');
    expect(INGEST_WRITE_ATTEMPTS).toBe(3);
    expect(ingest.Properties.Timeout).toBe(110);
    expect(ingest.Properties.Timeout * 1000).toBeGreaterThanOrEqual(INGEST_WRITE_ATTEMPTS * (PAUSED_CONNECT_TIMEOUT_MS + 5_000));
    // The queue's visibility timeout follows it ("six times the function timeout").
    const [, queue] = findOne(paused.json, 'AWS::SQS::Queue', (p) => p.RedrivePolicy !== undefined);
    expect(queue.Properties.VisibilityTimeout).toBe(6 * 110);
    // A shorter timeout where the cluster pauses is refused, with AWS's figure; ingest-fn takes up to a minute.
    expect(config({ ...AURORA, mode: 'vpc', minCapacity: '0', dbConnectTimeoutMs: '29999' })).toThrow(
      /dbConnectTimeoutMs="29999": minCapacity=0 lets the cluster pause.*30 seconds or more.*expected 30000 to 60000/,
    );
    expect(config({ ...AURORA, mode: 'vpc', minCapacity: '0', dbConnectTimeoutMs: '45000' })()).toMatchObject({
      dbConnectTimeoutMs: 45000,
      ingestTimeoutSeconds: 155,
    });
    expect(config({ dbConnectTimeoutMs: '60001' })).toThrow(/dbConnectTimeoutMs="60001": expected 10 to 60000/);
    // An explicit timeout on a cluster that never pauses sizes ingest-fn's timeout too.
    expect(config({ dbConnectTimeoutMs: '25000' })().ingestTimeoutSeconds).toBe(95);
    expect(ingestFunctionTimeoutMs(undefined)).toBe(30_000);
    // The default engine, and a cluster that never pauses, keep ingest-fn's own default and 30 s.
    for (const binary of ['ingest-fn', 'migrate']) expect(envOf(mysql, binary).DB_CONNECT_TIMEOUT_MS).toBeUndefined();
    expect(functionNamed(mysql.json, 'ingest-fn')[1].Properties.Timeout).toBe(30);
    expect(functionNamed(publicIam.json, 'ingest-fn')[1].Properties.Timeout).toBe(30);
  });

  // "A connection attempt that doesn't include valid credentials still causes the DB instance to
  // resume", and "If any user-initiated connections are open to an Aurora Serverless v2 instance,
  // the instance won't pause": a writer open to the region's EC2 space would be woken by every scan
  // of its port, and bill as if it could pause while it rarely does.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-waking
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-whynot
  test('Aurora: auto-pause in the public mode is refused at synth, saying why and what to do', () => {
    for (const values of [{ ...AURORA, minCapacity: '0' }, { ...AURORA, mode: 'public', minCapacity: '0', dbAuth: 'secret' }]) {
      expect(config(values)).toThrow(
        /minCapacity="0": mode=public .*"A connection attempt that doesn't include valid credentials still causes the DB instance to resume".*-c mode=vpc.*minCapacity to 0.5 or more/,
      );
    }
    expect(() => synth({ ...AURORA, minCapacity: '0' })).toThrow(/auto-pause-waking/);
    // The vpc mode pauses; the public mode with a minimum above 0 never does and is fine.
    expect(config({ ...AURORA, mode: 'vpc', minCapacity: '0' })().aurora?.minCapacity).toBe(0);
    expect(config({ ...AURORA, minCapacity: '0.5' })().aurora?.minCapacity).toBe(0.5);
    // A provisioned cluster never pauses: minCapacity does not apply to it at all.
    expect(config({ ...AURORA, auroraInstanceClass: 'r7g.large', minCapacity: '0' })).toThrow(/applies only to auroraInstanceClass=serverless/);
  });

  // Readers in promotion tiers 0-1 "scale along with the writer" and pause with it.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-administration.html#aurora-serverless-v2-choosing-promotion-tier
  test('Aurora: readers are db.serverless in promotion tier 0-1, sized like the writer', () => {
    const instances = instancesOf(paused);
    expect(instances).toHaveLength(2);
    for (const [, i] of instances) {
      expect(i.Properties.DBInstanceClass).toBe('db.serverless');
      expect(i.Properties.PromotionTier).toBeLessThanOrEqual(1);
    }
    expect(config({ ...AURORA, auroraReaders: '16' })).toThrow(/auroraReaders="16": expected 0 to 15/);
  });
});

describe('destroy and update', () => {
  // "You can't delete a cluster that has deletion protection enabled. You can delete DB
  // instances in the cluster"; a final snapshot is the cluster's (an instance delete takes
  // none: FinalDBSnapshotIdentifier "can't be specified when deleting a cluster instance").
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_DeleteCluster.html#USER_DeletionProtection
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
  test('RDS: protected, the cluster keeps its data (Snapshot, deletion protection) and is deleted before all it runs on', () => {
    for (const s of [publicIam, synthesized.get('aurora, vpc, secret') as Synthesized]) {
      const [clusterId, cluster] = clusterOf(s);
      expect(cluster.DeletionPolicy).toBe('Snapshot');
      expect(cluster.UpdateReplacePolicy).toBe('Snapshot');
      expect(cluster.Properties).toMatchObject({ DeletionProtection: true, DeleteAutomatedBackups: false });
      for (const [, i] of instancesOf(s)) expect(i.DeletionPolicy).toBe('Delete');
      const subnetGroup = s.json.Resources[cluster.Properties.DBSubnetGroupName.Ref].Properties;
      const subnets = subnetGroup.SubnetIds.map((r: any) => r.Ref);
      const routes = idsOf(s.json, 'AWS::EC2::SubnetRouteTableAssociation').filter((id) =>
        subnets.includes(s.json.Resources[id].Properties.SubnetId.Ref),
      );
      expect(routes).toHaveLength(2);
      for (const [memberId] of [[clusterId], ...instancesOf(s)]) {
        for (const id of [...subnets, ...routes]) expect({ memberId, id, waits: reaches(s.json, memberId, id) }).toEqual({ memberId, id, waits: true });
      }
      const retained = Object.values(s.json.Resources as Record<string, any>)
        .filter((r) => r.DeletionPolicy === 'Retain')
        .map((r) => r.Type);
      expect(new Set(retained)).toEqual(new Set(['AWS::SecretsManager::Secret']));
    }
    // The public writer goes before the internet gateway is detached.
    const [writerId] = instancesOf(publicIam)[0];
    expect(reaches(publicIam.json, writerId, idsOf(publicIam.json, 'AWS::EC2::VPCGatewayAttachment')[0])).toBe(true);
  });

  test('CloudFormation: unprotected, the cluster, its backups and both secrets go with the stack', () => {
    const [, cluster] = clusterOf(provisioned);
    expect(cluster.DeletionPolicy).toBe('Delete');
    expect(cluster.Properties).toMatchObject({ DeletionProtection: false, DeleteAutomatedBackups: true });
    provisioned.template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
    expect(instancesOf(provisioned)[0][1].Properties.DBInstanceClass).toBe('db.r7g.large');
    // No capacity alarm without Serverless v2.
    const metrics = idsOf(provisioned.json, 'AWS::CloudWatch::Alarm').map((id) => provisioned.json.Resources[id].Properties.MetricName);
    expect(metrics).not.toContain('ACUUtilization');
    expect(metrics).toContain('DatabaseConnections');
  });

  // DBCluster EngineVersion and ServerlessV2ScalingConfiguration update in place; Engine,
  // DatabaseName, StorageEncrypted and DBSubnetGroupName require replacement. A change of engine
  // is a new database: the RDS instance is not migrated.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbcluster.html
  test('CloudFormation: a new version or capacity updates the cluster in place; switching engine is a new database', () => {
    const older = synth({ ...AURORA, auroraVersion: '3.10.3', maxCapacity: '8' });
    const [oldId, oldCluster] = clusterOf(older);
    const [newId, newCluster] = clusterOf(publicIam);
    expect(newId).toBe(oldId);
    const changed = Object.keys({ ...oldCluster.Properties, ...newCluster.Properties }).filter(
      (k) => JSON.stringify(oldCluster.Properties[k]) !== JSON.stringify(newCluster.Properties[k]),
    );
    expect(changed.sort()).toEqual(['EngineVersion', 'ServerlessV2ScalingConfiguration']);
    expect(instancesOf(older).map(([id]) => id)).toEqual(instancesOf(publicIam).map(([id]) => id));
    // Over an engine=mysql stack: the instance's logical id is gone, and synth says so.
    const [mysqlInstanceId] = findOne(mysql.json, 'AWS::RDS::DBInstance', () => true);
    expect(publicIam.json.Resources[mysqlInstanceId]).toBeUndefined();
    Annotations.fromStack(publicIam.stack).hasWarning('*', Match.stringLikeRegexp('creates a new, empty Aurora cluster'));
    Annotations.fromStack(mysql.stack).hasNoWarning('*', Match.stringLikeRegexp('Aurora cluster'));
  });

  // Aurora's "end of standard support" per version, from the release calendar (LTS minors
  // "made available for at least three years"): move the pin before it.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/AuroraMySQL.release-calendars.html
  test(`Aurora: the default version has more than ${SUPPORT_WARNING_DAYS} days of standard support left`, () => {
    const minor = auroraPinnedMinor(DEFAULT_AURORA_VERSION);
    expect(minor).toBeDefined();
    const left = daysOfStandardSupportLeft({ ...minor!, version: minor!.version }, new Date());
    expect({ version: minor!.version, moveThePin: left <= SUPPORT_WARNING_DAYS }).toEqual({
      version: DEFAULT_AURORA_VERSION,
      moveThePin: false,
    });
    for (const m of AURORA_PINNED_MINORS) expect(m.source).toMatch(/^https:\/\/docs\.aws\.amazon\.com\//);
  });

  // "Database clusters that use LTS releases can stay on the same minor version for at least three
  // years, or until end of standard support for the major version, whichever comes first"; the
  // current LTS releases include "Aurora MySQL version 3.10.*", first released July 31, 2025.
  // RDS for MySQL's calendar (8.0's standard support ended 31 July 2026) is not Aurora's.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Update.SpecialVersions.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/doc-history.html
  test('Aurora: the LTS pin follows Aurora\'s own calendar, and a pin past its end is refused with the one to pin', () => {
    expect(ltsEndOfStandardSupport('2025-07-31')).toBe('2028-07-31');
    expect(ltsEndOfStandardSupport('2025-07-31', '2028-04-30')).toBe('2028-04-30');
    expect(ltsEndOfStandardSupport('2025-07-31', '2029-01-31')).toBe('2028-07-31');
    expect(auroraPinnedMinor('3.10.4')?.endOfStandardSupport).toBe('2028-07-31');
    expect(auroraPinnedMinor('3.10.4')?.source).toContain('AuroraMySQL.Update.SpecialVersions.html');
    // After RDS MySQL 8.0's end, Aurora MySQL 3 (MySQL 8.0-compatible) still synthesizes.
    const afterMysql80 = new Date('2026-12-07T00:00:00Z');
    expect(loadConfig((k) => AURORA[k as keyof typeof AURORA], 'ap-northeast-1', afterMysql80).aurora?.version).toBe('3.10.4');
    expect(() => loadConfig(() => undefined, 'ap-northeast-1', afterMysql80)).not.toThrow();
    expect(() => loadConfig((k) => ({ mysqlVersion: '8.0.46' })[k], 'ap-northeast-1', afterMysql80)).toThrow(/8\.0\.46 left standard support/);
    // Past the LTS end the pin is refused, with Aurora's consequence; no newer entry means none to name.
    const afterLts = new Date('2028-08-01T00:00:00Z');
    expect(() => loadConfig((k) => AURORA[k as keyof typeof AURORA], 'ap-northeast-1', afterLts)).toThrow(
      /auroraVersion="3\.10\.4": Aurora MySQL 3\.10\.4 left standard support on 2028-07-31 .*Aurora upgrades the cluster to the next LTS release.*no minor in the stack's table is still supported/,
    );
    expect(() => synth(AURORA, { today: afterLts })).toThrow(/left standard support/);
    // The day before, it synthesizes.
    expect(synth(AURORA, { today: new Date('2028-07-30T00:00:00Z') }).json).toBeDefined();
  });
});

describe('RDS Proxy in front of the cluster', () => {
  // A proxy's target group names "DBClusterIdentifiers" for Aurora (DBInstanceIdentifiers for
  // RDS instances), and MaxConnectionsPercent is "a percentage of the max_connections setting
  // for the RDS DB instance or Aurora DB cluster used by the target group".
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbproxytargetgroup.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ConnectionPoolConfiguration.html
  test('RDS Proxy: proxy=true targets the cluster, its pool a share of the cluster\'s max_connections', () => {
    const s = synth({ ...AURORA, mode: 'vpc', proxy: 'true' });
    const [clusterId] = clusterOf(s);
    const [, target] = findOne(s.json, 'AWS::RDS::DBProxyTargetGroup', () => true);
    expect(target.Properties.DBClusterIdentifiers).toEqual([{ Ref: clusterId }]);
    expect(target.Properties.DBInstanceIdentifiers).toBeUndefined();
    // (135 - 10) / 135 of Aurora's default at 4 ACUs.
    expect(target.Properties.ConnectionPoolConfigurationInfo.MaxConnectionsPercent).toBe(92);
  });

  // An instance pauses only without connections, and a proxy holds its pool's: AWS lists RDS
  // Proxy as incompatible with auto-pause.
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-prereqs
  test('Aurora: auto-pause behind a proxy is refused at synth', () => {
    expect(config({ ...AURORA, mode: 'vpc', proxy: 'true', minCapacity: '0' })).toThrow(
      /minCapacity="0": auto-pause cannot work behind proxy=true/,
    );
  });
});

describe('settings', () => {
  test('settings of the other engine are refused, not ignored', () => {
    expect(config({ minCapacity: '0' })).toThrow(/minCapacity="0": applies only to engine=aurora-mysql, and engine is mysql/);
    expect(config({ ...AURORA, instanceType: 't4g.micro' })).toThrow(/instanceType="t4g.micro": applies only to engine=mysql.*auroraInstanceClass/);
    expect(config({ ...AURORA, mysqlVersion: '8.4.10' })).toThrow(/mysqlVersion="8.4.10": applies only to engine=mysql/);
    expect(config({ engine: 'postgres' })).toThrow(/engine="postgres": expected one of mysql, aurora-mysql/);
    expect(config({ ...AURORA, auroraVersion: '8.0.39' })).toThrow(/auroraVersion="8.0.39": expected a pinned Aurora MySQL 3 version/);
    expect(config({})()).toMatchObject({ engine: 'mysql', aurora: undefined, dbMaxConnections: 100, dbConnectTimeoutMs: undefined });
  });

  // RDS signs Aurora's server certificates with the same regional roots: verify-identity needs
  // them whichever engine runs. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html
  test('RDS: a bundle without the region\'s roots is refused for the cluster too', () => {
    expect(() => synth({ ...AURORA, region: 'il-central-1' })).toThrow(/Amazon RDS il-central-1 Root CA RSA2048 G1/);
  });
});
