import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { CfnResource, Duration, Names } from 'aws-cdk-lib';
import { Construct, IConstruct } from 'constructs';
import { DbAuth, ProxyConfig } from './config';
import { IAM_DB_USER, PASSWORD_DB_USER } from './database-accounts';
import { DATABASE_PORT } from './database-instance';
import { WAIT_TIMEOUT_SECONDS } from './database-parameters';
import { Network } from './network';

// RDS Proxy between ingest-fn and the database (`-c proxy=true`, vpc mode). AWS's rules, each
// with its page; test/proxy.test.ts checks each on the synthesized template:
// - "Your RDS Proxy must be in the same virtual private cloud (VPC) as the database. The proxy
//   can't be publicly accessible" (config.ts refuses the public mode), and its default endpoint
//   is "provisioned across only two Availability Zones selected from the proxy's configured
//   subnets". https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.html#rds-proxy.limitations
// - Subnets: "you must leave at least two subnets"; the security group "serves both for
//   ingress from your applications to the proxy and egress from the proxy to the database".
//   https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-creating.html
// - "If you use RDS Proxy with an RDS DB instance that has IAM authentication enabled, the
//   proxy can connect to the database using either IAM authentication or credentials stored in
//   Secrets Manager. Clients connecting to the proxy must authenticate using IAM credentials."
//   (rds-proxy.html#rds-proxy.limitations). End-to-end IAM (DefaultAuthScheme IAM_AUTH) "is
//   supported for MySQL, PostgreSQL, and MariaDB engine families only" (rds-proxy-creating.html).
// - Require TLS: "The proxy uses the same encryption setting for its connection to the
//   underlying database" (rds-proxy-creating.html), and "RDS Proxy support for
//   caching_sha2_password authentication requires a secure (TLS) connection" (the MySQL 8.4
//   default plugin, which ingest_fn_pw's password account has; rds-proxy.html).

/** Where AWS lists the proxy's CloudWatch metrics and their dimension sets. */
export const PROXY_METRICS_PAGE = 'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-monitoring.html';

/** What the proxy needs of the database behind it: an RDS instance or an Aurora cluster, both
 *  of which a proxy target group takes ("Each proxy can be associated with a single target DB
 *  instance or cluster"). */
export interface ProxiedDatabase {
  readonly target: rds.ProxyTarget;
  /** rds-db:connect as `user` on the database itself, for the proxy's own login (end-to-end
   *  IAM): arn:aws:rds-db:region:account:dbuser:<DbiResourceId or cluster-id>/user. */
  grantConnect(grantee: iam.IGrantable, user: string): iam.Grant;
}

/** An instance or a cluster as the proxy's target. */
export function proxiedDatabase(database: rds.IDatabaseInstance | rds.IDatabaseCluster): ProxiedDatabase {
  const target =
    'clusterIdentifier' in database
      ? rds.ProxyTarget.fromCluster(database)
      : rds.ProxyTarget.fromInstance(database as rds.IDatabaseInstance);
  return { target, grantConnect: (grantee, user) => database.grantConnect(grantee, user) };
}

export interface IngestProxyProps {
  readonly network: Network;
  readonly database: ProxiedDatabase;
  readonly config: ProxyConfig;
  /** `iam`: the proxy logs in to the database as ingest_fn with IAM (end-to-end IAM);
   *  `secret`: as ingest_fn_pw with the password account's secret. */
  readonly dbAuth: DbAuth;
  /** The password account's secret; required with dbAuth=secret (Database.requireIngestSecret). */
  readonly ingestSecret?: secretsmanager.ISecret;
  /** ingest-fn's security group: the only client the proxy admits. */
  readonly clients: ec2.ISecurityGroup;
}

/** RDS Proxy for ingest-fn: TLS and IAM required from clients, the database reached with
 *  end-to-end IAM (dbAuth=iam) or the password account's secret (dbAuth=secret), a pool of
 *  MaxConnectionsPercent of max_connections, client sessions closed after the database's own
 *  wait_timeout, MySQL from ingest-fn's group in and to the database's group out, nothing else. */
export class IngestProxy extends Construct {
  readonly proxy: rds.DatabaseProxy;
  readonly securityGroup: ec2.SecurityGroup;
  /** The role the proxy reads the secret, or logs in with IAM, as. */
  readonly role: iam.Role;
  /** The MySQL account ingest-fn logs in as, through the proxy, with an IAM token. */
  readonly user: string;
  /** Database connections the proxy may open (config.ts). */
  readonly databaseConnections: number;
  readonly maxConnectionsPercent: number;
  /** Seconds a client session may idle before the proxy closes it. */
  readonly idleClientTimeout: Duration;

  constructor(scope: Construct, id: string, props: IngestProxyProps) {
    super(scope, id);
    const { network, database, config, dbAuth } = props;
    this.user = dbAuth === 'iam' ? IAM_DB_USER : PASSWORD_DB_USER;
    this.databaseConnections = config.databaseConnections;
    this.maxConnectionsPercent = config.maxConnectionsPercent;
    // A retired Lambda environment never closes its connection, and behind the proxy its
    // pinned session holds a database connection until the proxy drops the client (default
    // 1,800 s): the database's own wait_timeout keeps the slot arithmetic of the direct path.
    this.idleClientTimeout = Duration.seconds(WAIT_TIMEOUT_SECONDS);
    this.securityGroup = new ec2.SecurityGroup(this, 'Group', {
      vpc: network.vpc,
      description: 'RDS Proxy: MySQL from ingest-fn in, to the database out',
      allowAllOutbound: false,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('rds.amazonaws.com'),
      description: 'RDS Proxy for ingest-fn: logs in to the database as its one account',
    });
    this.proxy = new rds.DatabaseProxy(this, 'Proxy', {
      proxyTarget: database.target,
      // DBProxyName is required and unique per account and region: derived from the path, so
      // two stacks never collide.
      dbProxyName: Names.uniqueResourceName(this, { maxLength: 60 }),
      vpc: network.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [this.securityGroup],
      role: this.role,
      requireTLS: true,
      iamAuth: true,
      ...(dbAuth === 'iam'
        ? { defaultAuthScheme: rds.DefaultAuthScheme.IAM_AUTH }
        : { secrets: [props.ingestSecret as secretsmanager.ISecret] }),
      maxConnectionsPercent: config.maxConnectionsPercent,
      idleClientTimeout: this.idleClientTimeout,
      debugLogging: false,
    });
    if (dbAuth === 'iam') {
      // End-to-end IAM: the proxy signs its own token for ingest_fn on the database.
      database.grantConnect(this.role, IAM_DB_USER);
    }
    // The proxy opens its first database connections as soon as its target registers: after
    // its role may read the secret or connect, not while IAM still misses the policy.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
    const policy = this.role.node.tryFindChild('DefaultPolicy') as IConstruct | undefined;
    if (policy) this.resource.node.addDependency(policy);
    this.proxy.connections.allowFrom(props.clients, ec2.Port.tcp(DATABASE_PORT), 'MySQL from ingest-fn');
  }

  /** The CloudFormation proxy. */
  get resource(): CfnResource {
    return this.proxy.node.defaultChild as CfnResource;
  }

  /** The target group (registers the database); ingest-fn waits for it. */
  get targetGroup(): CfnResource {
    return this.proxy.node.findChild('ProxyTargetGroup') as CfnResource;
  }

  /** The proxy's endpoint, for ingest-fn's DB_HOST (the IAM token is signed for it too). */
  get endpoint(): string {
    return this.proxy.endpoint;
  }

  /** rds-db:connect as the proxy's user on the proxy's resource
   *  (arn:aws:rds-db:region:account:dbuser:prx-<id>/user), not the database's.
   *  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html */
  grantConnect(grantee: iam.IGrantable): iam.Grant {
    return this.proxy.grantConnect(grantee, this.user);
  }

  /** A proxy metric over all its traffic (dimension set 1, `ProxyName`; PROXY_METRICS_PAGE). */
  metric(name: ProxyMetricName, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      period: Duration.minutes(1),
      ...options,
      namespace: 'AWS/RDS',
      metricName: name,
      dimensionsMap: { ProxyName: this.proxy.dbProxyName },
    });
  }

  /** AvailabilityPercentage, published only per target role (dimension set 4: `ProxyName`,
   *  `TargetGroup`, `TargetRole`); an instance target is the READ_WRITE role of the `default`
   *  target group. */
  metricAvailability(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      period: Duration.minutes(1),
      statistic: 'Average',
      ...options,
      namespace: 'AWS/RDS',
      metricName: 'AvailabilityPercentage',
      dimensionsMap: { ProxyName: this.proxy.dbProxyName, TargetGroup: 'default', TargetRole: 'READ_WRITE' },
    });
  }
}

/** The proxy metrics the alarms and the dashboard read, all published with `ProxyName` alone. */
export type ProxyMetricName =
  | 'ClientConnections'
  | 'ClientConnectionsSetupFailedAuth'
  | 'DatabaseConnections'
  | 'DatabaseConnectionsCurrentlySessionPinned'
  | 'DatabaseConnectionsBorrowLatency'
  | 'QueryDatabaseResponseLatency';
