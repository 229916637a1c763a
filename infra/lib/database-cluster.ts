import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Annotations, CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ClusterParameterGroups } from './cluster-parameters';
import { StackConfig } from './config';
import { AuroraConfig } from './engine-config';
import { adminCredentials, applyAdminSecretRemovalPolicy } from './database-accounts';
import { DATABASE_NAME, DATABASE_PORT, dependOnDatabaseSubnets, protectionAndLogs } from './database-instance';
import { Network } from './network';

/** The Aurora MySQL 3 engine of `version` (e.g. 3.10.4), pinned to it. */
export function auroraMysqlEngine(version: string): rds.IClusterEngine {
  return rds.DatabaseClusterEngine.auroraMysql({
    version: rds.AuroraMysqlEngineVersion.of(`8.0.mysql_aurora.${version}`, '8.0'),
  });
}

/** The construct id of the writer, and of reader `i` (1-based). */
const WRITER_ID = 'Writer';
const readerId = (i: number): string => `Reader${i}`;

export interface DatabaseClusterProps {
  readonly network: Network;
  readonly config: StackConfig;
  readonly aurora: AuroraConfig;
  readonly engine: rds.IClusterEngine;
  readonly parameters: ClusterParameterGroups;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/** Aurora MySQL 3: one writer and `readers` readers, Serverless v2 (db.serverless) unless a
 *  provisioned class is set; encrypted storage (Aurora's grows by itself), TLS with the RDS CA,
 *  IAM authentication, backups and windows from the settings, logs exported for 30 days, the
 *  admin account in a generated secret; the writer public only in the public mode. With
 *  protectDatabase deletion-protected and snapshotted on delete, like the instance. */
export class DatabaseCluster extends rds.DatabaseCluster {
  constructor(scope: Construct, id: string, props: DatabaseClusterProps) {
    const { config, network, aurora } = props;
    const serverless = aurora.instanceClass === 'serverless';
    const common = {
      // The instances' own settings; the cluster's security groups and subnets are theirs too.
      publiclyAccessible: config.mode === 'public',
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
      autoMinorVersionUpgrade: false,
      parameterGroup: props.parameters.instance,
      enablePerformanceInsights: false,
      preferredMaintenanceWindow: config.maintenanceWindow,
    };
    const instance = (instanceId: string, reader: boolean): rds.IClusterInstance =>
      serverless
        ? rds.ClusterInstance.serverlessV2(instanceId, {
            ...common,
            // Promotion tier 0-1: a reader scales with the writer, so a failover lands on an
            // instance already sized for the write load (and it pauses with the writer).
            ...(reader && { scaleWithWriter: true }),
          })
        : rds.ClusterInstance.provisioned(instanceId, {
            ...common,
            instanceType: new ec2.InstanceType(aurora.instanceClass),
            ...(reader && { promotionTier: 1 }),
          });
    super(scope, id, {
      engine: props.engine,
      writer: instance(WRITER_ID, false),
      readers: Array.from({ length: aurora.readers }, (_, i) => instance(readerId(i + 1), true)),
      serverlessV2MinCapacity: aurora.minCapacity,
      serverlessV2MaxCapacity: aurora.maxCapacity,
      ...(aurora.secondsUntilAutoPause !== undefined && {
        serverlessV2AutoPauseDuration: Duration.seconds(aurora.secondsUntilAutoPause),
      }),
      vpc: network.vpc,
      vpcSubnets: network.databaseSubnets,
      securityGroups: props.securityGroups,
      port: DATABASE_PORT,
      defaultDatabaseName: DATABASE_NAME,
      credentials: adminCredentials(),
      parameterGroup: props.parameters.cluster,
      storageEncrypted: true,
      iamAuthentication: true,
      autoMinorVersionUpgrade: false,
      // Readers are replaced one at a time, the writer last, so the cluster keeps serving. That is
      // for changes to the instances; EngineVersion is the cluster's, and Aurora patches a minor
      // upgrade on every instance at once ("a cluster-patching model where all nodes in an Aurora
      // DB cluster are patched at the same time"; zero-downtime patching keeps client connections
      // on a best-effort basis): the writer and its readers restart together.
      // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraMySQLReleaseNotes/AuroraMySQL.Updates.20171120.html
      instanceUpdateBehaviour: rds.InstanceUpdateBehaviour.ROLLING,
      backup: { retention: Duration.days(config.backupRetentionDays), preferredWindow: config.backupWindow },
      // As for the instance: protected, CloudFormation's delete stops at the cluster; once the
      // protection is lifted a delete takes a final cluster snapshot.
      ...protectionAndLogs(config),
    });
    // Nothing the cluster runs on is deleted before it (database-instance.ts says why): the
    // cluster and each of its instances depend on the whole of every database subnet.
    dependOnDatabaseSubnets(network, [this.node.defaultChild as CfnResource, ...this.instanceResources()]);
    // The admin secret is retained by a protected stack: it logs in to a restored snapshot.
    applyAdminSecretRemovalPolicy(this, config.protectDatabase ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);
    Annotations.of(this).addWarningV2(
      'lambda-rds-ingest:aurora-is-a-new-database',
      'engine=aurora-mysql creates a new, empty Aurora cluster. Deployed over a stack that ran engine=mysql, ' +
        'the RDS instance is replaced, not migrated: move the data first (docs/scaling.md#aurora-mysql, "Switching engine").',
    );
  }

  /** Every instance's CloudFormation resource, the writer first. */
  instanceResources(): rds.CfnDBInstance[] {
    return this.node.children
      .map((c) => c.node.defaultChild)
      .filter((c): c is rds.CfnDBInstance => c instanceof rds.CfnDBInstance);
  }
}
