import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { RdsCaLayer } from './ca-layer';
import { StackConfig } from './config';
import { PasswordAccountSecret } from './database-accounts';
import { DATABASE_NAME, DATABASE_PORT, DatabaseInstance, mysqlEngine } from './database-instance';
import { DatabaseParameters } from './database-parameters';
import { databaseSecurityGroups } from './database-security-groups';
import { Network } from './network';

export interface DatabaseProps {
  readonly network: Network;
  readonly config: StackConfig;
}

/** RDS MySQL 8 with TLS enforced, IAM authentication, encrypted storage and backups; in the
 *  `public` mode reachable from the internet through a pool of security groups that start
 *  empty and that sg-sync-fn fills with the region's EC2 ranges. Puts together the parameter
 *  group, the groups, the instance, ingest-fn's password secret and the CA layer, and says
 *  how a client reaches the database (`environment`). */
export class Database extends Construct {
  readonly instance: DatabaseInstance;
  /** The admin (master) account's generated secret: migrate alone reads it. */
  readonly secret: secretsmanager.ISecret;
  /** The least-privilege password account's secret (`dbAuth=secret`): ingest-fn reads it. */
  readonly ingestSecret?: PasswordAccountSecret;
  /** The groups sg-sync-fn manages (public mode); empty in the vpc mode. */
  readonly syncedGroups: ec2.SecurityGroup[];
  /** The group on the instance that admits the functions inside the VPC (vpc mode). */
  readonly privateGroup?: ec2.SecurityGroup;
  /** The RDS CA bundle as a layer, for DB_CA_BUNDLE (verify-identity against RDS). */
  readonly caLayer: RdsCaLayer;
  private readonly poolMax: number;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const { network, config } = props;
    const engine = mysqlEngine(config.mysqlVersion);
    // The ids below are those the resources had when this was one constructor: each is a
    // logical id in deployed stacks.
    const parameterGroup = new DatabaseParameters(this, 'Parameters', {
      engine,
      maxConnections: config.dbMaxConnections,
    });
    const groups = databaseSecurityGroups(this, {
      vpc: network.vpc,
      mode: config.mode,
      poolSize: config.securityGroupPoolSize,
    });
    this.syncedGroups = groups.synced;
    this.privateGroup = groups.private;
    this.instance = new DatabaseInstance(this, 'Instance', {
      network,
      config,
      engine,
      parameterGroup,
      securityGroups: groups.all,
    });
    // The instance's generated secret always exists (adminCredentials).
    this.secret = this.instance.secret as secretsmanager.ISecret;
    if (config.dbAuth === 'secret') {
      this.ingestSecret = new PasswordAccountSecret(this, 'IngestSecret', {
        // Like the admin secret: a protected stack keeps it for a restored snapshot.
        removalPolicy: config.protectDatabase ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
    }
    this.caLayer = new RdsCaLayer(this, 'CaBundle', { caBundle: config.caBundle });
    this.poolMax = config.dbPoolMax;
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
