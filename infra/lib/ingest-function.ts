import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { Database } from './database';
import { IAM_DB_USER } from './database-accounts';
import { deadLetterQueue } from './dead-letter-queue';
import { Placement, placedIn } from './network';
import { IngestProxy } from './proxy';
import { workspaceFunction } from './rust-function';

/** "MaximumConcurrency: Limits the number of concurrent instances that the Amazon SQS event
 *  source can invoke ... Valid Range: Minimum value of 2. Maximum value of 1000."
 *  https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html */
export const SQS_MAX_CONCURRENCY = { min: 2, max: 1000 } as const;

/** The SQS mapping's MaximumConcurrency: half of ingest-fn's reservation, leaving the other half
 *  to the Function URL and direct invokes, within what Lambda accepts. */
export function queueMaxConcurrency(ingestConcurrency: number): number {
  const half = Math.floor(ingestConcurrency / 2);
  return Math.min(SQS_MAX_CONCURRENCY.max, Math.max(SQS_MAX_CONCURRENCY.min, half));
}

export interface IngestFunctionProps {
  readonly database: Database;
  readonly config: StackConfig;
  /** Inside the VPC (vpc mode); outside any VPC when unset. */
  readonly placement?: Placement;
  /** RDS Proxy in front of the database (`proxy=true`): ingest-fn logs in to it with IAM. */
  readonly proxy?: IngestProxy;
}

/** ingest-fn: a Function URL (IAM auth, where Lambda offers them) and an SQS queue in front of
 *  the events table. */
export class IngestFunction extends Construct {
  readonly function: lambda.Function;
  /** Unset where Lambda offers no Function URLs (config.functionUrl). */
  readonly url?: lambda.FunctionUrl;
  readonly queue: sqs.Queue;
  /** Where the queue puts an event after maxReceiveCount failed receives. */
  readonly deadLetters: sqs.Queue;
  readonly queueSource: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: IngestFunctionProps) {
    super(scope, id);
    const { database, config, placement, proxy } = props;
    // Every attempt of one write fits (engine-config.ts, ingestFunctionTimeoutMs): 30 s by
    // default, longer where a paused cluster's resume takes the connect timeout to 30 s.
    const timeout = Duration.seconds(config.ingestTimeoutSeconds);
    const environment = database.environment();
    // Where its embedded-metric-format lines go; the alarms and the dashboard read the same.
    environment.METRICS_NAMESPACE = config.metricsNamespace;
    if (proxy) {
      // The proxy requires IAM from its clients whatever it logs in to the database with; the
      // token is signed for the proxy's endpoint. TLS stays verify-identity: the proxy's
      // certificate comes from ACM (Amazon Trust Services roots, in the driver's webpki set).
      environment.DB_HOST = proxy.endpoint;
      environment.DB_USER = proxy.user;
      environment.DB_IAM_AUTH = 'true';
    } else if (config.dbAuth === 'iam') {
      environment.DB_USER = IAM_DB_USER;
      environment.DB_IAM_AUTH = 'true';
    } else {
      // Its own least-privilege account's secret, never the admin's.
      environment.DB_SECRET_ARN = database.requireIngestSecret().secretArn;
    }
    this.function = workspaceFunction(this, 'Function', {
      binaryName: 'ingest-fn',
      architecture: config.architecture,
      description: 'Writes events into the RDS MySQL events table',
      memorySize: 256,
      timeout,
      // Each environment holds at most DB_POOL_MAX connections, so this caps the
      // connections ingest-fn can open (docs/scaling.md, Connections: the arithmetic).
      reservedConcurrentExecutions: config.ingestConcurrency,
      layers: [database.caLayer],
      environment,
      ...placedIn(placement),
    });
    if (proxy) {
      // On the proxy's resource only: ingest-fn never logs in to the database itself.
      proxy.grantConnect(this.function);
      // No invocation before the proxy has its target.
      (this.function.node.defaultChild as Construct).node.addDependency(proxy.targetGroup);
    } else if (config.dbAuth === 'iam') {
      database.server.grantConnect(this.function, IAM_DB_USER);
    } else {
      database.requireIngestSecret().grantRead(this.function);
    }

    if (config.functionUrl) {
      this.url = this.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    }

    const dlq = deadLetterQueue(this, 'DeadLetters');
    this.deadLetters = dlq;
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Lambda's advice: six times the function timeout, so retries don't overlap.
      visibilityTimeout: Duration.seconds(timeout.toSeconds() * 6),
      deadLetterQueue: { queue: dlq, maxReceiveCount: 5 },
    });
    this.queueSource = this.function.addEventSourceMapping('QueueSource', {
      eventSourceArn: this.queue.queueArn,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      reportBatchItemFailures: true,
      maxConcurrency: queueMaxConcurrency(config.ingestConcurrency),
    });
    this.queue.grantConsumeMessages(this.function);
  }
}
