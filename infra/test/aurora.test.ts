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
  serverlessV2DefaultMaxConnections,
} from '../lib/aurora-support';
import { PAUSED_CONNECT_TIMEOUT_MS } from '../lib/engine-config';
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
const paused = synth({ ...AURORA, minCapacity: '0', auroraReaders: '1' });
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
  // metrics for specific DB instances"; the cluster volume grows by itself, so there is no
  // FreeStorageSpace alarm; ACUUtilization "approaches a value of 100.0" when the instance "has
  // scaled up as high as it can".
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/creating_alarms.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.viewing.monitoring
  test('CloudWatch: database alarms on the writer role, capacity instead of free storage', () => {
    const [clusterId] = clusterOf(s);
    const alarms = idsOf(s.json, 'AWS::CloudWatch::Alarm').map((id) => s.json.Resources[id].Properties);
    const rds = alarms.filter((a) => a.Namespace === 'AWS/RDS');
    expect(rds.map((a) => a.MetricName).sort()).toEqual(['ACUUtilization', 'DatabaseConnections']);
    for (const a of rds) {
      expect(a.Dimensions).toEqual([
        { Name: 'DBClusterIdentifier', Value: { Ref: clusterId } },
        { Name: 'Role', Value: 'WRITER' },
      ]);
    }
    expect(rds.find((a) => a.MetricName === 'DatabaseConnections').Threshold).toBe(130);
    const body = JSON.stringify(findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true)[1].Properties.DashboardBody);
    expect(body).toContain('ServerlessDatabaseCapacity');
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
    expect(config({ ...AURORA, minCapacity: '0', auroraVersion: '3.08.0' })().aurora?.minCapacity).toBe(0);
  });

  // "It can take up to 15 seconds for the database to resume": the first connection after a
  // pause waits that long, so DB_CONNECT_TIMEOUT_MS (ingest-fn's default 3 s) must outlast it,
  // and a connect plus a write (5 s) must fit in ingest-fn's timeout.
  // https://aws.amazon.com/blogs/database/introducing-scaling-to-0-capacity-with-amazon-aurora-serverless-v2/
  // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html
  test('Aurora: with minCapacity 0 the connect timeout allows for a resume', () => {
    const [, cluster] = clusterOf(paused);
    expect(cluster.Properties.ServerlessV2ScalingConfiguration).toEqual({ MinCapacity: 0, MaxCapacity: 4, SecondsUntilAutoPause: 300 });
    for (const binary of ['ingest-fn', 'migrate']) {
      expect(Number(envOf(paused, binary).DB_CONNECT_TIMEOUT_MS)).toBe(PAUSED_CONNECT_TIMEOUT_MS);
    }
    expect(PAUSED_CONNECT_TIMEOUT_MS).toBeGreaterThan(AURORA_RESUME_SECONDS.seconds * 1000);
    const ingestTimeoutMs = functionNamed(paused.json, 'ingest-fn')[1].Properties.Timeout * 1000;
    expect(PAUSED_CONNECT_TIMEOUT_MS + 5_000).toBeLessThanOrEqual(ingestTimeoutMs);
    expect(config({ ...AURORA, minCapacity: '0', dbConnectTimeoutMs: '15000' })).toThrow(
      /dbConnectTimeoutMs="15000": minCapacity=0 lets the cluster pause.*expected more than 15000/,
    );
    expect(config({ ...AURORA, minCapacity: '0', dbConnectTimeoutMs: '18000' })().dbConnectTimeoutMs).toBe(18000);
    expect(config({ dbConnectTimeoutMs: '25001' })).toThrow(/dbConnectTimeoutMs="25001": expected 10 to 25000/);
    // The default engine, and a cluster that never pauses, keep ingest-fn's own default.
    for (const binary of ['ingest-fn', 'migrate']) expect(envOf(mysql, binary).DB_CONNECT_TIMEOUT_MS).toBeUndefined();
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
    // An estimate says so.
    expect(minor!.source).toMatch(/ESTIMATE/);
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
