import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';
import { RdsCaLayer } from './ca-layer';
import { ClusterParameterGroups } from './cluster-parameters';
import { StackConfig } from './config';
import {
  EXPIRE_PASSWORD_ACCOUNT,
  INGEST_PASSWORD_ACCOUNT,
  PasswordAccountSecret,
  READER_PASSWORD_ACCOUNT,
} from './database-accounts';
import { DatabaseCluster, auroraMysqlEngine } from './database-cluster';
import { DATABASE_NAME, DATABASE_PORT, DatabaseInstance, mysqlEngine } from './database-instance';
import { DatabaseParameters } from './database-parameters';
import { databaseSecurityGroups } from './database-security-groups';
import { Network } from './network';

export interface DatabaseProps {
  readonly network: Network;
  readonly config: StackConfig;
}

/** What clients, migrate's trigger and RDS Proxy need of the database, whichever engine serves
 *  it: an RDS MySQL instance (`engine=mysql`) or an Aurora MySQL cluster (`engine=aurora-mysql`). */
export interface DatabaseServer {
  /** The endpoint clients log in to: the instance's, or the cluster's writer endpoint. */
  readonly host: string;
  /** The admin (master) account's generated secret. */
  readonly secret: secretsmanager.ISecret;
  /** What a proxy targets. */
  readonly target: rds.IDatabaseInstance | rds.IDatabaseCluster;
  /** What must exist before anyone logs in: the instance, or the cluster with its instances. */
  readonly ready: IConstruct;
  /** The database's own identity, new whenever CloudFormation replaces it: the instance's
   *  DbiResourceId, or the cluster's DBClusterResourceId. */
  readonly identity: string;
  /** Grants `rds-db:connect` as `user` on this database. */
  grantConnect(grantee: iam.IGrantable, user: string): iam.Grant;
}

/** The DatabaseServer of `db`, the instance or the cluster, reached at `host`. */
function serverOf(db: DatabaseInstance | DatabaseCluster, host: string, identity: string): DatabaseServer {
  return {
    host,
    identity,
    // Either's generated secret always exists (adminCredentials).
    secret: db.secret as secretsmanager.ISecret,
    target: db,
    ready: db,
    grantConnect: (grantee, user) => db.grantConnect(grantee, user),
  };
}

/** RDS MySQL 8 (or, with `engine=aurora-mysql`, an Aurora MySQL 3 cluster) with TLS enforced,
 *  IAM authentication, encrypted storage and backups; in the `public` mode reachable from the
 *  internet through a pool of security groups that start empty and that sg-sync-fn fills with
 *  the region's EC2 ranges. Puts together the parameter group(s), the groups, the instance or
 *  cluster, the password accounts' secrets (ingest-fn's and the reader's) and the CA layer, and
 *  says how a client reaches the database (`environment`, `server`). */
export class Database extends Construct {
  /** Whichever engine serves the database. */
  readonly server: DatabaseServer;
  /** The Aurora cluster (`engine=aurora-mysql`). */
  readonly cluster?: DatabaseCluster;
  private readonly rdsInstance?: DatabaseInstance;
  /** The admin (master) account's generated secret: migrate alone reads it. */
  readonly secret: secretsmanager.ISecret;
  /** The least-privilege password account's secret (`dbAuth=secret`): ingest-fn reads it. */
  readonly ingestSecret?: PasswordAccountSecret;
  /** The read-only password account's secret (`dbAuth=secret`): migrate alone reads it, to
   *  answer verify requests without the admin's rights. */
  readonly readerSecret?: PasswordAccountSecret;
  /** ingest-expire's password account's secret (`dbAuth=secret` with retentionDays): migrate
   *  reads it to create the account, ingest-expire to log in. */
  readonly expireSecret?: PasswordAccountSecret;
  /** The groups sg-sync-fn manages (public mode); empty in the vpc mode. */
  readonly syncedGroups: ec2.SecurityGroup[];
  /** The group on the instance that admits the functions inside the VPC (vpc mode). */
  readonly privateGroup?: ec2.SecurityGroup;
  /** The RDS CA bundle as a layer, for DB_CA_BUNDLE (verify-identity against RDS). */
  readonly caLayer: RdsCaLayer;
  private readonly poolMax: number;
  private readonly connectTimeoutMs?: number;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const { network, config } = props;
    // Created where the instance's code always created them (after its parameter group): the
    // order of a template's resources follows it.
    const securityGroups = () =>
      databaseSecurityGroups(this, { vpc: network.vpc, mode: config.mode, poolSize: config.securityGroupPoolSize });
    let groups: ReturnType<typeof databaseSecurityGroups>;
    if (config.aurora) {
      const engine = auroraMysqlEngine(config.aurora.version);
      groups = securityGroups();
      const cluster = new DatabaseCluster(this, 'Cluster', {
        network,
        config,
        aurora: config.aurora,
        engine,
        parameters: new ClusterParameterGroups(this, 'ClusterParameters', {
          engine,
          maxConnections: config.aurora.maxConnectionsSet ? config.dbMaxConnectionsConfigured : undefined,
        }),
        securityGroups: groups.all,
      });
      this.cluster = cluster;
      this.server = serverOf(cluster, cluster.clusterEndpoint.hostname, cluster.clusterResourceIdentifier);
    } else {
      const engine = mysqlEngine(config.mysqlVersion);
      // The ids below are those the resources had when this was one constructor: each is a
      // logical id in deployed stacks.
      const parameterGroup = new DatabaseParameters(this, 'Parameters', {
        engine,
        maxConnections: config.dbMaxConnectionsConfigured,
      });
      groups = securityGroups();
      const instance = new DatabaseInstance(this, 'Instance', {
        network,
        config,
        engine,
        parameterGroup,
        securityGroups: groups.all,
      });
      this.rdsInstance = instance;
      this.server = serverOf(instance, instance.dbInstanceEndpointAddress, instance.instanceResourceId as string);
    }
    this.syncedGroups = groups.synced;
    this.privateGroup = groups.private;
    this.secret = this.server.secret;
    if (config.dbAuth === 'secret') {
      // Like the admin secret: a protected stack keeps them for a restored snapshot, whose
      // accounts have these passwords.
      const removalPolicy = config.protectDatabase ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
      this.ingestSecret = new PasswordAccountSecret(this, 'IngestSecret', { account: INGEST_PASSWORD_ACCOUNT, removalPolicy });
      this.readerSecret = new PasswordAccountSecret(this, 'ReaderSecret', { account: READER_PASSWORD_ACCOUNT, removalPolicy });
      if (config.retention) {
        this.expireSecret = new PasswordAccountSecret(this, 'ExpireSecret', { account: EXPIRE_PASSWORD_ACCOUNT, removalPolicy });
      }
    }
    this.caLayer = new RdsCaLayer(this, 'CaBundle', { caBundle: config.caBundle });
    this.poolMax = config.dbPoolMax;
    this.connectTimeoutMs = config.dbConnectTimeoutMs;
  }

  /** The RDS MySQL instance; only `engine=mysql` creates it. */
  get instance(): DatabaseInstance {
    if (!this.rdsInstance) throw new Error('the RDS instance exists only with engine=mysql; use database.server');
    return this.rdsInstance;
  }

  /** The environment both database clients (ingest-fn, migrate) share. */
  environment(): Record<string, string> {
    return {
      DB_HOST: this.host,
      DB_PORT: String(DATABASE_PORT),
      DB_NAME: DATABASE_NAME,
      DB_TLS: 'verify-identity',
      DB_CA_BUNDLE: this.caLayer.path,
      DB_POOL_MAX: String(this.poolMax),
      // Set only when chosen, or when a paused Aurora cluster must be given time to resume.
      ...(this.connectTimeoutMs !== undefined && { DB_CONNECT_TIMEOUT_MS: String(this.connectTimeoutMs) }),
    };
  }

  /** The password account's secret; only `dbAuth=secret` creates it. */
  requireIngestSecret(): secretsmanager.Secret {
    if (!this.ingestSecret) throw new Error('the ingest secret exists only with dbAuth=secret');
    return this.ingestSecret;
  }

  /** ingest-expire's password account's secret; only `dbAuth=secret` with retentionDays creates it. */
  requireExpireSecret(): secretsmanager.Secret {
    if (!this.expireSecret) throw new Error('the expire secret exists only with dbAuth=secret and retentionDays');
    return this.expireSecret;
  }

  /** The database's endpoint address (the instance's, or the cluster's writer endpoint), for
   *  DB_HOST. */
  get host(): string {
    return this.server.host;
  }
}
