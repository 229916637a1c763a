import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cr from 'aws-cdk-lib/custom-resources';
import * as triggers from 'aws-cdk-lib/triggers';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { EXPIRE_RESERVED_CONCURRENCY, RetentionConfig, StackConfig } from './config';
import { Database } from './database';
import { EXPIRE_IAM_DB_USER } from './database-accounts';
import { Network, Placement, placedIn } from './network';
import { crateManifest, workspaceFunction } from './rust-function';

/** Where cargo-lambda builds ingest-expire from: the binary of the workspace's crate
 *  `expire-fn`, beside migrate's. */
export const EXPIRE_BUILD = { manifestPath: crateManifest('expire-fn'), binaryName: 'ingest-expire' } as const;

/** One run's limit. A run stops starting chunks EXPIRE_DEADLINE_MARGIN_MS (20 s by default)
 *  before it, finishes the chunk under way and reports; the next run goes on from the table's
 *  first row, so a backlog is worked off over several hours, never in one long transaction. */
export const EXPIRE_TIMEOUT = Duration.minutes(5);

/** How often it runs. The cutoff moves once a day (the start of the UTC day, N days back); hourly
 *  runs keep each one short after the first, and an hour is the alarm's period. */
export const EXPIRE_SCHEDULE = events.Schedule.rate(Duration.hours(1));

/** The archive's key prefix (ARCHIVE_PREFIX): the one place in the bucket the function may write. */
export const ARCHIVE_PREFIX = 'events/';

/** A noncurrent version (left by someone deleting or overwriting an archive object; ingest-expire
 *  never does either) is kept this long, then expires. */
export const ARCHIVE_NONCURRENT_DAYS = 90;

export interface RetentionProps {
  readonly network: Network;
  readonly database: Database;
  readonly config: StackConfig;
  readonly retention: RetentionConfig;
  /** Inside the VPC (vpc mode); outside any VPC when unset. */
  readonly placement?: Placement;
}

/** ingest-expire on a schedule (`retentionDays`): deletes the events received before the start of
 *  the UTC day N days back, in bounded chunks, as its own SELECT/DELETE account; with `archive`
 *  it first writes each chunk to the stack's archive bucket. Where it runs and how it reaches the
 *  database are migrate's: outside any VPC in the public mode (the sync's rules admit the EC2
 *  ranges Lambda runs in), in the isolated subnets in the vpc mode. */
export class Retention extends Construct {
  readonly function: lambda.Function;
  readonly schedule: events.Rule;
  /** One run, asynchronous, after each deploy that changes the function (and, in the vpc mode
   *  with the archive, after its route to S3 exists): the alarm on the oldest event's age
   *  (missing data breaching) has a data point within minutes rather than an hour, and a wrong
   *  setting shows at once. */
  readonly firstRun: triggers.Trigger;
  /** `archive=true` only. */
  readonly archive?: s3.Bucket;
  readonly days: number;

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const { network, database, config, retention, placement } = props;
    this.days = retention.days;
    if (retention.archive) this.archive = archiveBucket(this);

    const environment = database.environment();
    // One run holds one connection, taken from dbReservedConnections beside migrate's and the
    // operators' (expire-fn/src/table.rs keeps a single connection for the run).
    environment.DB_POOL_MAX = '1';
    environment.METRICS_NAMESPACE = config.metricsNamespace;
    environment.RETENTION_DAYS = String(retention.days);
    if (config.dbAuth === 'iam') {
      environment.DB_USER = EXPIRE_IAM_DB_USER;
      environment.DB_IAM_AUTH = 'true';
    } else {
      // Its own account's secret: never ingest-fn's (which may insert) nor the admin's.
      environment.DB_SECRET_ARN = database.requireExpireSecret().secretArn;
    }
    if (this.archive) {
      environment.ARCHIVE_BUCKET = this.archive.bucketName;
      environment.ARCHIVE_PREFIX = ARCHIVE_PREFIX;
    }
    this.function = workspaceFunction(this, 'Function', {
      ...EXPIRE_BUILD,
      architecture: config.architecture,
      description: 'Deletes events older than the retention in bounded chunks, archiving each chunk first when asked',
      memorySize: 256,
      timeout: EXPIRE_TIMEOUT,
      // One run at a time: two overlapping runs are safe (the same chunks, the archive's
      // conditional writes meet 412) but only double the load on the database. Lambda keeps 100
      // of the account's concurrency unreserved; config.ts counts this one against
      // lambdaConcurrencyQuota beside ingest-fn's.
      // https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
      reservedConcurrentExecutions: EXPIRE_RESERVED_CONCURRENCY,
      // A failed or throttled run is not retried: the next hourly run starts over from the
      // table's first row, and a retry an hour late would only meet it.
      // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
      retryAttempts: 0,
      maxEventAge: Duration.hours(1),
      layers: [database.caLayer],
      environment,
      ...placedIn(placement),
    });

    // An IAM token logs in only a caller allowed rds-db:connect as that one database user.
    // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
    if (config.dbAuth === 'iam') {
      database.server.grantConnect(this.function, EXPIRE_IAM_DB_USER);
    } else {
      // GetSecretValue alone, on its own secret (AWS-managed key: no kms:Decrypt).
      // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
      iam.Grant.addToPrincipal({
        grantee: this.function,
        actions: ['secretsmanager:GetSecretValue'],
        resourceArns: [database.requireExpireSecret().secretArn],
      });
    }
    /** What a run needs in place besides the function: the archive's route (vpc mode). */
    let route: Construct[] = [];
    if (this.archive) {
      // PutObject on the prefix and nothing else: a conditional write with If-None-Match needs
      // only s3:PutObject ("To perform a conditional write with the HTTP If-None-Match header,
      // you must have the s3:PutObject permission"); no GetObject, no ListBucket, no delete.
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html#conditional-write-key-names
      this.function.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject'],
          resources: [this.archive.arnForObjects(`${ARCHIVE_PREFIX}*`)],
        }),
      );
      if (placement) route = archiveRoute(this, network, placement, this.archive, this.function);
    }

    this.schedule = new events.Rule(this, 'Schedule', {
      description: 'Runs ingest-expire: deletes (and archives) events older than the retention',
      schedule: EXPIRE_SCHEDULE,
      targets: [
        // EventBridge retries only a failed delivery to Lambda; an event older than the next run
        // is dropped rather than delivered late.
        new targets.LambdaFunction(this.function, { retryAttempts: 2, maxEventAge: Duration.hours(1) }),
      ],
    });
    this.firstRun = new triggers.Trigger(this, 'FirstRun', {
      handler: this.function,
      // Asynchronous: the deploy neither waits for the run nor fails with it; ExpireErrors and
      // OldestEventAge report a run that fails.
      invocationType: triggers.InvocationType.EVENT,
      executeOnHandlerChange: true,
      executeAfter: route,
    });
  }
}

/** The archive: encrypted (SSE-S3), TLS only, never public, versioned, kept when the stack goes.
 *
 *  SSE-S3 rather than a KMS key: the stack's one key is the alarm topic's, deleted with the
 *  stack, and an archive kept after the stack must stay readable; a key of its own would bill a
 *  month and every request, and need kms:GenerateDataKey for the function and kms:Decrypt for
 *  whoever restores, for no control this bucket lacks (only the function writes, nobody reads
 *  but the account's administrators).
 *  https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingServerSideEncryption.html
 *  Versioned: the function only ever creates objects (If-None-Match: *), so versions cost nothing
 *  until someone else deletes or overwrites one, which then stays recoverable for
 *  ARCHIVE_NONCURRENT_DAYS. */
function archiveBucket(scope: Construct): s3.Bucket {
  const bucket = new s3.Bucket(scope, 'Archive', {
    encryption: s3.BucketEncryption.S3_MANAGED,
    // A bucket policy statement that denies every request made without TLS (aws:SecureTransport).
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
    enforceSSL: true,
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    lifecycleRules: [{ id: 'NoncurrentVersions', noncurrentVersionExpiration: Duration.days(ARCHIVE_NONCURRENT_DAYS) }],
    // The archive is the only copy of the events it holds: the stack never deletes it.
    removalPolicy: RemovalPolicy.RETAIN,
    autoDeleteObjects: false,
  });
  // The TLS-only policy stays with the bucket it protects.
  bucket.policy?.applyRemovalPolicy(RemovalPolicy.RETAIN);
  return bucket;
}

/** vpc mode: the isolated subnets have no route out, so the function reaches S3 through a gateway
 *  endpoint (no charge), whose policy admits only the function's PutObject on the archive prefix,
 *  and its group admits HTTPS to S3's prefix list only. CloudFormation gives no gateway
 *  endpoint's prefix list id, so a lookup at deploy reads it (DescribeManagedPrefixLists).
 *  https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html */
function archiveRoute(
  scope: Construct,
  network: Network,
  placement: Placement,
  archive: s3.Bucket,
  fn: lambda.Function,
): Construct[] {
  const endpoint = network.vpc.addGatewayEndpoint('ArchiveEndpoint', {
    service: ec2.GatewayVpcEndpointAwsService.S3,
    subnets: [{ subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
  });
  endpoint.addToPolicy(
    new iam.PolicyStatement({
      principals: [new iam.ArnPrincipal((fn.role as iam.IRole).roleArn)],
      actions: ['s3:PutObject'],
      resources: [archive.arnForObjects(`${ARCHIVE_PREFIX}*`)],
    }),
  );
  const name = `com.amazonaws.${Stack.of(scope).region}.s3`;
  const lookup = new cr.AwsCustomResource(scope, 'S3PrefixList', {
    onUpdate: {
      service: 'EC2',
      action: 'DescribeManagedPrefixLists',
      parameters: { Filters: [{ Name: 'prefix-list-name', Values: [name] }] },
      physicalResourceId: cr.PhysicalResourceId.of(name),
      outputPaths: ['PrefixLists.0.PrefixListId'],
    },
    policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: cr.AwsCustomResourcePolicy.ANY_RESOURCE }),
    installLatestAwsSdk: false,
  });
  placement.securityGroup.addEgressRule(
    ec2.Peer.prefixList(lookup.getResponseField('PrefixLists.0.PrefixListId')),
    ec2.Port.tcp(443),
    'HTTPS to S3 (the archive) through the gateway endpoint',
  );
  // The endpoint, its routes, and the group with its egress rule to S3.
  return [endpoint, placement.securityGroup];
}
