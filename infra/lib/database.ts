import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Annotations, CfnResource, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { caBundleCode, rdsCaBundle, requireRegionRoots } from './ca-bundle';
import { StackConfig } from './config';
import { Network } from './network';

export const DATABASE_NAME = 'ingest';
export const DATABASE_PORT = 3306;
/** The MySQL account ingest-fn logs in as with IAM tokens; migrate creates it. */
export const IAM_DB_USER = 'ingest_fn';
/** The MySQL account ingest-fn logs in as with `dbAuth=secret`; migrate creates it with the
 *  password of its own generated secret. */
export const PASSWORD_DB_USER = 'ingest_fn_pw';
/** Characters left out of generated passwords: they need quoting in SQL or in a URL. */
const PASSWORD_EXCLUDES = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\';
/** Where the CA layer puts the RDS certificate bundle inside a function. */
export const CA_BUNDLE_PATH = '/opt/rds-ca-bundle.pem';

/** RDS MySQL 8 with TLS enforced, IAM authentication, encrypted storage and backups; in the
 *  `public` mode reachable from the internet through a pool of security groups that start
 *  empty and that sg-sync-fn fills with the region's EC2 ranges. */
export class Database extends Construct {
  readonly instance: rds.DatabaseInstance;
  /** The admin (master) account's generated secret: migrate alone reads it. */
  readonly secret: secretsmanager.ISecret;
  /** The least-privilege password account's secret (`dbAuth=secret`): ingest-fn reads it. */
  readonly ingestSecret?: secretsmanager.Secret;
  /** The groups sg-sync-fn manages (public mode); empty in the vpc mode. */
  readonly syncedGroups: ec2.SecurityGroup[];
  /** The group on the instance that admits the functions inside the VPC (vpc mode). */
  readonly privateGroup?: ec2.SecurityGroup;
  /** The RDS CA bundle as a layer, for DB_CA_BUNDLE (verify-identity against RDS). */
  readonly caLayer: lambda.LayerVersion;

  constructor(scope: Construct, id: string, network: Network, config: StackConfig) {
    super(scope, id);
    const [major, minor] = config.mysqlVersion.split('.');
    const engine = rds.DatabaseInstanceEngine.mysql({
      version: rds.MysqlEngineVersion.of(config.mysqlVersion, `${major}.${minor}`),
    });
    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: 'TLS only; max_connections sized for ingest-fn reserved concurrency',
      // Values as RDS stores them for an instance parameter group (booleans 0/1), each checked
      // against MYSQL_84_PARAMETERS in lib/engine-support.ts.
      parameters: {
        require_secure_transport: '1',
        // Fixed, not the memory-derived default, so the concurrency arithmetic holds.
        max_connections: String(config.dbMaxConnections),
        // A retired Lambda environment never closes its connection; this frees its slot.
        wait_timeout: '300',
        // The `slowquery` export publishes the slow query log file: it must be on, and RDS
        // writes it to a file only with log_output=FILE (the RDS default is TABLE).
        slow_query_log: '1',
        long_query_time: '1',
        log_output: 'FILE',
      },
    });

    this.syncedGroups = [];
    const securityGroups: ec2.SecurityGroup[] = [];
    if (config.mode === 'public') {
      for (let i = 1; i <= config.securityGroupPoolSize; i++) {
        const group = new ec2.SecurityGroup(this, `SyncedGroup${i}`, {
          vpc: network.vpc,
          // GroupDescription is immutable (a change replaces the group): nothing in it may
          // depend on the pool size, or growing the pool would empty every group.
          description: `RDS MySQL ingress, pool group ${i}, managed by sg-sync-fn`,
          // No ingress at deploy time; the database itself opens no connections.
          allowAllOutbound: false,
        });
        this.syncedGroups.push(group);
        securityGroups.push(group);
      }
    } else {
      this.privateGroup = new ec2.SecurityGroup(this, 'PrivateGroup', {
        vpc: network.vpc,
        description: 'RDS MySQL ingress from the functions in the VPC',
        allowAllOutbound: false,
      });
      securityGroups.push(this.privateGroup);
    }

    // Protected: deletion protection makes CloudFormation's DeleteDBInstance fail, so a stack
    // delete stops at the instance, and everything the instance needs (below) is deleted only
    // after it: nothing it runs on goes first (aws-cdk#22141). Once an operator lifts the
    // protection, the next delete takes a final snapshot (DeletionPolicy Snapshot) and then
    // removes the rest. The admin secret is retained: it logs in to a restored snapshot.
    // Unprotected: instance and secret go with the stack, for throwaway stacks.
    const removalPolicy = config.protectDatabase ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const instanceRemovalPolicy = config.protectDatabase ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY;
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine,
      instanceType: new ec2.InstanceType(config.instanceType),
      vpc: network.vpc,
      vpcSubnets: network.databaseSubnets,
      publiclyAccessible: config.mode === 'public',
      securityGroups,
      port: DATABASE_PORT,
      databaseName: DATABASE_NAME,
      credentials: rds.Credentials.fromGeneratedSecret('admin', {
        excludeCharacters: PASSWORD_EXCLUDES,
      }),
      parameterGroup,
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
      preferredMaintenanceWindow: config.maintenanceWindow,
      deleteAutomatedBackups: !config.protectDatabase,
      deletionProtection: config.protectDatabase,
      removalPolicy: instanceRemovalPolicy,
      // iam-db-auth-error says why an IAM token login failed (ingest-fn with dbAuth=iam).
      cloudwatchLogsExports: ['error', 'slowquery', ...(config.dbAuth === 'iam' ? ['iam-db-auth-error'] : [])],
      // CDK's default is never to expire.
      cloudwatchLogsRetention: logs.RetentionDays.ONE_MONTH,
      enablePerformanceInsights: false,
    });
    // The subnet group names the subnets, but not their route tables, associations and default
    // routes (and, through those, the internet gateway's attachment): make the instance depend
    // on the whole subnet so a delete removes none of them before the instance is gone. A public
    // instance keeps its route to the internet, and the gateway is detached only once no
    // public address is mapped in the VPC.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachInternetGateway.html
    const instanceResource = this.instance.node.defaultChild as CfnResource;
    for (const subnet of network.vpc.selectSubnets(network.databaseSubnets).subnets) {
      instanceResource.node.addDependency(subnet);
    }
    // The instance's generated secret always exists (fromGeneratedSecret).
    this.secret = this.instance.secret as secretsmanager.ISecret;
    // `secret` is the attachment; the generated secret itself is the instance's child.
    (this.instance.node.findChild('Secret') as secretsmanager.Secret).applyRemovalPolicy(removalPolicy);
    if (config.dbAuth === 'secret') {
      this.ingestSecret = new secretsmanager.Secret(this, 'IngestSecret', {
        description: `Password of the MySQL account ${PASSWORD_DB_USER} (SELECT, INSERT on events) for ingest-fn`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: PASSWORD_DB_USER }),
          generateStringKey: 'password',
          excludeCharacters: PASSWORD_EXCLUDES,
          passwordLength: 32,
        },
        removalPolicy,
      });
    }

    const bundle = rdsCaBundle(config.caBundle);
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region)) {
      Annotations.of(this).addWarningV2(
        'lambda-rds-ingest:ca-bundle-unchecked',
        'The stack has no region at synth (-c region=... or CDK_DEFAULT_REGION): the RDS CA bundle ' +
          "could not be checked for the region's root certificates.",
      );
    } else {
      requireRegionRoots(bundle, region, config.caBundle);
    }
    this.caLayer = new lambda.LayerVersion(this, 'CaBundle', {
      // Layers are extracted to /opt.
      code: caBundleCode(CA_BUNDLE_PATH.replace(/^\/opt\//, ''), bundle),
      description: 'Amazon RDS certificate authorities (PEM), for verify-identity TLS',
      compatibleArchitectures: [lambda.Architecture.ARM_64, lambda.Architecture.X86_64],
    });
  }

  /** The environment both database clients (ingest-fn, migrate) share. */
  environment(config: StackConfig): Record<string, string> {
    return {
      DB_HOST: this.host,
      DB_PORT: String(DATABASE_PORT),
      DB_NAME: DATABASE_NAME,
      DB_TLS: 'verify-identity',
      DB_CA_BUNDLE: CA_BUNDLE_PATH,
      DB_POOL_MAX: String(config.dbPoolMax),
    };
  }

  /** The password account's secret; only `dbAuth=secret` creates it. */
  requireIngestSecret(): secretsmanager.Secret {
    if (!this.ingestSecret) throw new Error('the ingest secret exists only with dbAuth=secret');
    return this.ingestSecret;
  }

  /** The instance's endpoint address, for DB_HOST. */
  get host(): string {
    return this.instance.dbInstanceEndpointAddress;
  }
}
