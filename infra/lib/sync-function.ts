import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as triggers from 'aws-cdk-lib/triggers';
import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { DATABASE_PORT } from './database-instance';
import { deadLetterQueue } from './dead-letter-queue';
import { workspaceFunction } from './rust-function';

/** AWS announces every change of ip-ranges.json here; the topic lives in us-east-1 only. */
export const IP_SPACE_CHANGED_TOPIC = 'arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged';

/** How long sg-sync-fn retries EC2's UnauthorizedOperation (IAM is eventually consistent); the
 *  Rust side waits the same 60 s (`sg_sync::IAM_SETTLE`, in retry.rs). */
export const SYNC_IAM_SETTLE = Duration.seconds(60);
/** Room for the IAM wait plus a full sync. */
export const SYNC_TIMEOUT = Duration.minutes(2);

export interface SyncFunctionProps {
  /** The pool it keeps (the database's synced groups). */
  readonly groups: ec2.ISecurityGroup[];
  readonly config: StackConfig;
}

/** sg-sync-fn: keeps the pool's inbound rules equal to the region's EC2 ranges, on every
 *  AmazonIpSpaceChanged notification, on a schedule as a backstop, and once after a deploy. */
export class SyncFunction extends Construct {
  readonly function: lambda.Function;
  /** Where an event lands after the asynchronous invoke's retries. */
  readonly deadLetters: sqs.Queue;
  readonly firstSync: triggers.Trigger;
  /** The one statement with `Resource: *`. */
  readonly describePolicy: iam.Policy;

  constructor(scope: Construct, id: string, props: SyncFunctionProps) {
    super(scope, id);
    const { groups, config } = props;
    const dlq = deadLetterQueue(this, 'DeadLetters');
    this.deadLetters = dlq;
    this.function = workspaceFunction(this, 'Function', {
      binaryName: 'sg-sync-fn',
      architecture: config.architecture,
      description: 'Keeps the database security groups equal to the EC2 ranges of this region',
      memorySize: 256,
      // A normal sync takes seconds; right after a deploy EC2 may answer UnauthorizedOperation
      // for up to SYNC_IAM_SETTLE while the new role policy propagates, and the sync waits.
      timeout: SYNC_TIMEOUT,
      // SNS and EventBridge invoke asynchronously: two retries, then the dead-letter queue.
      retryAttempts: 2,
      deadLetterQueue: dlq,
      environment: {
        SECURITY_GROUP_IDS: groups.map((g) => g.securityGroupId).join(','),
        PORTS: `tcp/${DATABASE_PORT}`,
        RULES_PER_GROUP: String(config.rulesPerGroup),
        // Where its embedded-metric-format lines go; the alarms and the dashboard read the same.
        METRICS_NAMESPACE: config.metricsNamespace,
        // Sources others' rules on the pool may admit the port from without a FenceOpenings
        // report (an office VPN); unset when none, which the function reads as none.
        ...(config.fenceAllowedCidrs.length > 0 && { FENCE_ALLOWED_CIDRS: config.fenceAllowedCidrs.join(',') }),
      },
    });

    // Describe calls take no resource-level permissions (a policy of its own, so the nag
    // acknowledgement covers exactly it); every write names the pool's groups.
    this.describePolicy = new iam.Policy(this, 'DescribeSecurityGroups', {
      statements: [
        new iam.PolicyStatement({
          actions: [
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSecurityGroupRules',
            'ec2:DescribeManagedPrefixLists',
          ],
          resources: ['*'],
        }),
      ],
    });
    this.function.role?.attachInlinePolicy(this.describePolicy);
    const stack = Stack.of(this);
    this.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:AuthorizeSecurityGroupIngress',
          'ec2:RevokeSecurityGroupIngress',
          'ec2:CreateTags',
        ],
        resources: groups.map((g) =>
          stack.formatArn({ service: 'ec2', resource: 'security-group', resourceName: g.securityGroupId }),
        ),
      }),
    );

    // A topic in another region: the subscription carries Region: us-east-1. No redrive policy:
    // SNS takes a subscription's dead-letter queue only in the topic's own account and region.
    // A message SNS delivered but the function failed on still reaches `dlq` (async retries).
    // In an opt-in region no such subscription can deliver (lib/regions.ts): none is created,
    // and config.ts holds the backstop to every 15 minutes or more often.
    if (config.ipSpaceNotifications) {
      const topic = sns.Topic.fromTopicArn(this, 'AmazonIpSpaceChanged', IP_SPACE_CHANGED_TOPIC);
      topic.addSubscription(new subscriptions.LambdaSubscription(this.function));
    } else {
      Annotations.of(this).addWarningV2(
        'lambda-rds-ingest:no-ip-space-notifications',
        `${stack.region} is an opt-in region: SNS does not deliver AmazonIpSpaceChanged (us-east-1) to a ` +
          `Lambda function there, so sg-sync-fn is not subscribed and the backstop (syncSchedule ` +
          `${config.syncSchedule}) alone keeps the database's rules current.`,
      );
    }

    new events.Rule(this, 'Backstop', {
      description: 'Syncs even if an AmazonIpSpaceChanged notification was missed',
      schedule: events.Schedule.expression(config.syncSchedule),
      targets: [
        new targets.LambdaFunction(this.function, {
          retryAttempts: 2,
          deadLetterQueue: dlq,
        }),
      ],
    });

    // `{}` is a direct, applying run; it fails the deploy if the sync fails.
    this.firstSync = new triggers.Trigger(this, 'FirstSync', {
      handler: this.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: SYNC_TIMEOUT.plus(Duration.minutes(1)),
    });
  }
}
