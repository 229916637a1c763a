import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import { CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { adminCredentials, applyAdminSecretRemovalPolicy } from './database-accounts';
import { Network } from './network';

export const DATABASE_NAME = 'ingest';
export const DATABASE_PORT = 3306;

/** Makes each of `resources` depend on the whole of every database subnet (the instance's
 *  constructor says why). */
export function dependOnDatabaseSubnets(network: Network, resources: CfnResource[]): void {
  const subnets = network.vpc.selectSubnets(network.databaseSubnets).subnets;
  for (const resource of resources) for (const subnet of subnets) resource.node.addDependency(subnet);
}

export interface DatabaseInstanceProps {
  readonly network: Network;
  readonly config: StackConfig;
  readonly engine: rds.IInstanceEngine;
  readonly parameterGroup: rds.IParameterGroup;
  readonly securityGroups: ec2.ISecurityGroup[];
}

/** The MySQL engine of `version` (major.minor.patch), pinned to that minor. */
export function mysqlEngine(version: string): rds.IInstanceEngine {
  const [major, minor] = version.split('.');
  return rds.DatabaseInstanceEngine.mysql({ version: rds.MysqlEngineVersion.of(version, `${major}.${minor}`) });
}

/** What the instance and the Aurora cluster take alike from the settings: the maintenance
 *  window, protection and the snapshot on delete, and the logs they export. */
export function protectionAndLogs(
  config: StackConfig,
): Pick<
  rds.DatabaseInstanceProps & rds.DatabaseClusterProps,
  | 'preferredMaintenanceWindow'
  | 'deleteAutomatedBackups'
  | 'deletionProtection'
  | 'removalPolicy'
  | 'cloudwatchLogsExports'
  | 'cloudwatchLogsRetention'
> {
  return {
    preferredMaintenanceWindow: config.maintenanceWindow,
    deleteAutomatedBackups: !config.protectDatabase,
    // Protected: deletion protection makes CloudFormation's DeleteDBInstance (DeleteDBCluster)
    // fail, so a stack delete stops at the database, and everything it needs is deleted only
    // after it: nothing it runs on goes first (aws-cdk#22141). Once an operator lifts the
    // protection, the next delete takes a final snapshot (DeletionPolicy Snapshot) and then
    // removes the rest. Unprotected: the database goes with the stack, for throwaway stacks.
    deletionProtection: config.protectDatabase,
    removalPolicy: config.protectDatabase ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
    // iam-db-auth-error says why an IAM token login failed (ingest-fn with dbAuth=iam).
    cloudwatchLogsExports: ['error', 'slowquery', ...(config.dbAuth === 'iam' ? ['iam-db-auth-error'] : [])],
    // CDK's default is never to expire.
    cloudwatchLogsRetention: logs.RetentionDays.ONE_MONTH,
  };
}

/** The RDS MySQL instance: encrypted storage that grows, TLS with the RDS CA, IAM
 *  authentication, backups and windows from the settings, its logs exported for 30 days, the
 *  admin account in a generated secret; public only in the public mode. With protectDatabase
 *  deletion-protected and snapshotted on delete. */
export class DatabaseInstance extends rds.DatabaseInstance {
  constructor(scope: Construct, id: string, props: DatabaseInstanceProps) {
    const { config, network } = props;
    super(scope, id, {
      engine: props.engine,
      instanceType: new ec2.InstanceType(config.instanceType),
      vpc: network.vpc,
      vpcSubnets: network.databaseSubnets,
      publiclyAccessible: config.mode === 'public',
      securityGroups: props.securityGroups,
      port: DATABASE_PORT,
      databaseName: DATABASE_NAME,
      credentials: adminCredentials(),
      parameterGroup: props.parameterGroup,
      storageEncrypted: true,
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageType: rds.StorageType.GP3,
      iamAuthentication: true,
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
      multiAz: false,
      autoMinorVersionUpgrade: false,
      // An 8.0 stack moves to 8.4 by an update in place: a new parameter group of the new
      // family and the new EngineVersion in one ModifyDBInstance, which RDS refuses without it.
      allowMajorVersionUpgrade: true,
      backupRetention: Duration.days(config.backupRetentionDays),
      preferredBackupWindow: config.backupWindow,
      ...protectionAndLogs(config),
      enablePerformanceInsights: false,
    });
    // The subnet group names the subnets, but not their route tables, associations and default
    // routes (and, through those, the internet gateway's attachment): make the instance depend
    // on the whole subnet so a delete removes none of them before the instance is gone. A public
    // instance keeps its route to the internet, and the gateway is detached only once no
    // public address is mapped in the VPC.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachInternetGateway.html
    dependOnDatabaseSubnets(network, [this.node.defaultChild as CfnResource]);
    // The admin secret is retained by a protected stack: it logs in to a restored snapshot.
    applyAdminSecretRemovalPolicy(this, config.protectDatabase ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);
  }
}
