import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Annotations, Aspects, CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { Database } from './database';
import { Alarms } from './alarms';
import { OperationsDashboard } from './dashboard';
import { IngestFunction } from './ingest-function';
import { Migrations } from './migrations';
import { Network } from './network';
import { Retention } from './retention';
import { SyncFunction } from './sync-function';
import { VpcAccess } from './vpc-access';
import { acknowledgeFindings } from './nag';
import { IngestProxy, proxiedDatabase } from './proxy';
import { FunctionsAfterTheirPolicies } from './iam-ordering';

export interface IngestStackProps extends StackProps {
  readonly config: StackConfig;
}

/** The whole reference stack: network, database, sg-sync-fn (public mode), migrate, ingest-fn,
 *  and with retentionDays ingest-expire (and its archive). */
export class IngestStack extends Stack {
  /** The validated settings the stack was built from. */
  readonly config: StackConfig;
  readonly network: Network;
  readonly database: Database;
  readonly sync?: SyncFunction;
  readonly migrations: Migrations;
  readonly ingest: IngestFunction;
  /** RDS Proxy for ingest-fn (`proxy=true`, vpc mode). */
  readonly proxy?: IngestProxy;
  /** ingest-expire on its schedule, and the archive (`retentionDays`, `archive`). */
  readonly retention?: Retention;

  constructor(scope: Construct, id: string, props: IngestStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.config = config;
    for (const notice of config.notices) Annotations.of(this).addWarningV2(`lambda-rds-ingest:${notice.id}`, notice.message);
    this.network = new Network(this, 'Network', { mode: config.mode });
    const database = new Database(this, 'Database', { network: this.network, config });
    this.database = database;

    const access =
      config.mode === 'vpc'
        ? new VpcAccess(this, 'VpcAccess', {
            network: this.network,
            database,
            ingestViaProxy: !!config.proxy,
            expire: config.retention !== undefined,
          })
        : undefined;
    if (config.proxy && access) {
      this.proxy = new IngestProxy(this, 'Proxy', {
        network: this.network,
        database: proxiedDatabase(database.server.target),
        config: config.proxy,
        dbAuth: config.dbAuth,
        ingestSecret: config.dbAuth === 'secret' ? database.requireIngestSecret() : undefined,
        clients: access.ingest.securityGroup,
      });
    }

    this.migrations = new Migrations(this, 'Migrations', { database, config, placement: access?.migrate });
    this.ingest = new IngestFunction(this, 'Ingest', {
      database,
      config,
      placement: access?.ingest,
      proxy: this.proxy,
    });
    if (config.mode === 'public') {
      this.sync = new SyncFunction(this, 'Sync', { groups: database.syncedGroups, config });
      // migrate runs outside the VPC too: it needs the rules the first sync writes.
      this.migrations.trigger.executeAfter(this.sync.firstSync);
    }
    // No traffic before the schema exists, and no new ingest code or settings before migrate ran
    // on every deploy (CloudFormation updates a resource after the ones it depends on): the
    // function itself waits, not only its Function URL (where there is one) and queue mapping.
    this.migrations.trigger.executeBefore(
      this.ingest.function.node.defaultChild as Construct,
      ...(this.ingest.url ? [this.ingest.url] : []),
      this.ingest.queueSource,
    );
    if (config.retention) {
      const retention = new Retention(this, 'Retention', {
        network: this.network,
        database,
        config,
        retention: config.retention,
        placement: access?.expire,
      });
      this.retention = retention;
      // Its account exists once migrate ran (migrate creates it): what invokes it, the schedule
      // and the first run, waits for the trigger. The function itself cannot: the triggers'
      // shared provider role is allowed to invoke it (the first run), and migrate's trigger
      // runs on that provider, so the function waiting for migrate would be a cycle. A run
      // between a deploy's update of the function and its migrate meets the previous schema;
      // a statement that fails there deletes nothing, and the next run goes on.
      this.migrations.trigger.executeBefore(retention.schedule, retention.firstRun);
    }

    const alarms = new Alarms(this, 'Alarms', { email: config.alarmEmail });
    alarms.watchIngest(this.ingest);
    alarms.watchDatabase(this.database, config);
    if (this.proxy) alarms.watchProxy(this.proxy);
    if (this.sync) alarms.watchSync(this.sync, config);
    if (this.retention) alarms.watchRetention(this.retention, config);
    const dashboard = new OperationsDashboard(this, 'Operations', {
      config,
      ingest: this.ingest,
      database: this.database,
      alarms,
      sync: this.sync,
      proxy: this.proxy,
      retention: this.retention,
    });

    new CfnOutput(this, 'IngestFunctionName', { value: this.ingest.function.functionName });
    if (this.ingest.url) new CfnOutput(this, 'IngestFunctionUrl', { value: this.ingest.url.url });
    new CfnOutput(this, 'IngestQueueUrl', { value: this.ingest.queue.queueUrl });
    new CfnOutput(this, 'MigrateFunctionName', { value: this.migrations.function.functionName });
    if (this.sync) {
      new CfnOutput(this, 'SyncFunctionName', { value: this.sync.function.functionName });
    }
    if (this.retention) {
      new CfnOutput(this, 'ExpireFunctionName', { value: this.retention.function.functionName });
      if (this.retention.archive) new CfnOutput(this, 'ArchiveBucketName', { value: this.retention.archive.bucketName });
    }
    new CfnOutput(this, 'DatabaseEndpoint', { value: this.database.host });
    if (this.proxy) new CfnOutput(this, 'ProxyEndpoint', { value: this.proxy.endpoint });
    new CfnOutput(this, 'DatabaseSecretArn', { value: this.database.secret.secretArn });
    new CfnOutput(this, 'DatabaseSecurityGroupIds', {
      value: (this.sync ? this.database.syncedGroups : [this.database.privateGroup as ec2.SecurityGroup])
        .map((g) => g.securityGroupId)
        .join(','),
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboard.dashboardName });

    acknowledgeFindings(this, config);
    Aspects.of(this).add(new FunctionsAfterTheirPolicies());
  }
}
