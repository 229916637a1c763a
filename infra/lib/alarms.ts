import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/** One encrypted topic every alarm notifies; an email subscription when one is configured. */
export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, email?: string) {
    super(scope, id);
    // CloudWatch cannot use the AWS-managed alias/aws/sns key: its policy cannot be changed to
    // admit cloudwatch.amazonaws.com, and every notification would fail with
    // AWSKMS AccessDeniedException. A key of our own says so in its policy.
    this.key = new kms.Key(this, 'TopicKey', {
      description: 'lambda-rds-ingest alarm topic: readable by CloudWatch alarms',
      enableKeyRotation: true,
      // Holds no data at rest beyond messages in flight; nothing to keep after the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'lambda-rds-ingest alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    if (email) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
  }

  /** Alarms when the metric's sum reaches 1 in one period. */
  any(id: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    return alarm;
  }

  /** Alarms while a dead-letter queue holds anything. */
  deadLetters(id: string, queue: sqs.IQueue, description: string): cloudwatch.Alarm {
    return this.any(
      id,
      queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      description,
    );
  }
}

/** A dead-letter queue: encrypted, TLS only, kept for the longest SQS allows. */
export function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
}
