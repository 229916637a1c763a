import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Aspects, CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { DATABASE_PORT, Database } from './database';
import { Alarms } from './alarms';
import { IngestFunction, Placement } from './ingest-function';
import { Migrations } from './migrations';
import { Network } from './network';
import { SyncFunction } from './sync-function';
import { acknowledgeFindings } from './nag';
import { FunctionsAfterTheirPolicies } from './iam-ordering';

export interface IngestStackProps extends StackProps {
  readonly config: StackConfig;
}

/** The whole reference stack: network, database, sg-sync-fn (public mode), migrate, ingest-fn. */
export class IngestStack extends Stack {
  readonly network: Network;
  readonly database: Database;
  readonly sync?: SyncFunction;
  readonly migrations: Migrations;
  readonly ingest: IngestFunction;

  constructor(scope: Construct, id: string, props: IngestStackProps) {
    super(scope, id, props);
    const config = props.config;
    this.network = new Network(this, 'Network', config.mode);
    this.database = new Database(this, 'Database', this.network, config);
    const alarms = new Alarms(this, 'Alarms', config.alarmEmail);

    let ingestPlacement: Placement | undefined;
    let migratePlacement: Placement | undefined;
    if (config.mode === 'vpc') {
      ingestPlacement = this.placement('IngestGroup', 'ingest-fn');
      migratePlacement = this.placement('MigrateGroup', 'migrate');
      // migrate (and ingest-fn with dbAuth=secret) read Secrets Manager without a NAT gateway.
      const endpoint = this.network.vpc.addInterfaceEndpoint('SecretsManager', {
        service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        open: false,
        // An endpoint answers; it never opens connections.
        securityGroups: [
          new ec2.SecurityGroup(this, 'SecretsManagerEndpointGroup', {
            vpc: this.network.vpc,
            description: 'Secrets Manager endpoint: HTTPS from the functions only',
            allowAllOutbound: false,
          }),
        ],
      });
      const privateGroup = this.database.privateGroup as ec2.SecurityGroup;
      for (const p of [ingestPlacement, migratePlacement]) {
        privateGroup.connections.allowFrom(p.securityGroup, ec2.Port.tcp(DATABASE_PORT), 'MySQL from a function');
        endpoint.connections.allowDefaultPortFrom(p.securityGroup, 'Secrets Manager from a function');
      }
    }

    this.migrations = new Migrations(this, 'Migrations', this.database, config, migratePlacement);
    this.ingest = new IngestFunction(this, 'Ingest', this.database, config, alarms, ingestPlacement);
    if (config.mode === 'public') {
      this.sync = new SyncFunction(this, 'Sync', this.database.syncedGroups, config, alarms);
      // migrate runs outside the VPC too: it needs the rules the first sync writes.
      this.migrations.trigger.executeAfter(this.sync.firstSync);
    }
    // No traffic before the schema exists.
    this.migrations.trigger.executeBefore(this.ingest.url, this.ingest.queueSource);

    new CfnOutput(this, 'IngestFunctionName', { value: this.ingest.function.functionName });
    new CfnOutput(this, 'IngestFunctionUrl', { value: this.ingest.url.url });
    new CfnOutput(this, 'IngestQueueUrl', { value: this.ingest.queue.queueUrl });
    new CfnOutput(this, 'MigrateFunctionName', { value: this.migrations.function.functionName });
    if (this.sync) {
      new CfnOutput(this, 'SyncFunctionName', { value: this.sync.function.functionName });
    }
    new CfnOutput(this, 'DatabaseEndpoint', { value: this.database.host });
    new CfnOutput(this, 'DatabaseSecretArn', { value: this.database.secret.secretArn });
    new CfnOutput(this, 'DatabaseSecurityGroupIds', {
      value: (this.sync ? this.database.syncedGroups : [this.database.privateGroup as ec2.SecurityGroup])
        .map((g) => g.securityGroupId)
        .join(','),
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });

    acknowledgeFindings(this, config);
    Aspects.of(this).add(new FunctionsAfterTheirPolicies());
  }

  /** A group for a function inside the VPC: no egress but what is added explicitly. */
  private placement(id: string, name: string): Placement {
    return {
      vpc: this.network.vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroup: new ec2.SecurityGroup(this, id, {
        vpc: this.network.vpc,
        description: `${name}: MySQL and Secrets Manager only`,
        allowAllOutbound: false,
      }),
    };
  }
}
