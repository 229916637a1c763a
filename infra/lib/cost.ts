// What the stack bills, by the CloudFormation resource type that bills it, and in which
// configurations the templates create it. docs/scaling.md's cost section mirrors this list;
// test/cost.test.ts holds it to the synthesized templates, so a resource that starts or stops
// costing money in a mode shows up as a failing test instead of a wrong table.

import type { StackConfig } from './config';

export interface PricedResource {
  /** The CloudFormation type that carries the charge. */
  readonly type: string;
  /** What it bills, at rest and in use. */
  readonly charge: string;
  /** In which configurations the templates create it. */
  readonly when: (config: StackConfig) => boolean;
  /** How many the templates create, where each one bills on its own (a secret-month each) and
   *  the number follows from the configuration alone. */
  readonly count?: (config: StackConfig) => number;
  /** AWS's pricing page for it. */
  readonly pricing: string;
}

const always = () => true;

export const PRICED_RESOURCES: readonly PricedResource[] = [
  {
    type: 'AWS::RDS::DBInstance',
    charge:
      'the instance class per hour (db.t4g.micro by default) with its gp3 storage, or for Aurora each ' +
      'instance: ACU-hours for db.serverless, the class per hour when provisioned; a public instance ' +
      '(mode=public) adds its public IPv4 address per hour',
    when: always,
    pricing: 'https://aws.amazon.com/rds/mysql/pricing/',
  },
  {
    type: 'AWS::RDS::DBCluster',
    charge: 'the Aurora cluster volume per GB-month and, on Aurora Standard, its I/O requests',
    when: (c) => c.engine === 'aurora-mysql',
    pricing: 'https://aws.amazon.com/rds/aurora/pricing/',
  },
  {
    type: 'AWS::RDS::DBProxy',
    charge: 'per vCPU-hour of the instance behind it (per ACU-hour behind Serverless v2, 8 ACUs at least)',
    when: (c) => c.proxy !== undefined,
    pricing: 'https://aws.amazon.com/rds/proxy/pricing/',
  },
  {
    type: 'AWS::EC2::VPCEndpoint',
    charge:
      'the Secrets Manager interface endpoint per AZ-hour and per GB processed; the S3 gateway endpoint ' +
      '(archive=true in the vpc mode) bills nothing',
    when: (c) => c.mode === 'vpc',
    pricing: 'https://aws.amazon.com/privatelink/pricing/',
  },
  {
    // The alarm topic's key: CloudWatch cannot publish to a topic under the AWS-managed key, so
    // the stack has a key of its own in both modes (alarms.ts).
    type: 'AWS::KMS::Key',
    charge: 'USD 1 a month per customer managed key, and its requests',
    when: always,
    pricing: 'https://aws.amazon.com/kms/pricing/',
  },
  {
    type: 'AWS::SecretsManager::Secret',
    charge:
      'per secret-month (the admin secret; with dbAuth=secret also ingest-fn\'s and the verify ' +
      'reader\'s, and with retentionDays ingest-expire\'s) and per 10,000 API calls',
    when: always,
    count: (c) => (c.dbAuth === 'secret' ? 3 + (c.retention ? 1 : 0) : 1),
    pricing: 'https://aws.amazon.com/secrets-manager/pricing/',
  },
  {
    type: 'AWS::CloudWatch::Alarm',
    charge: 'per alarm-month (standard resolution)',
    when: always,
    pricing: 'https://aws.amazon.com/cloudwatch/pricing/',
  },
  {
    type: 'AWS::CloudWatch::Dashboard',
    charge: 'per dashboard-month beyond the account\'s first three',
    when: always,
    pricing: 'https://aws.amazon.com/cloudwatch/pricing/',
  },
  {
    type: 'AWS::Logs::LogGroup',
    charge: 'per GB ingested and stored (the functions\' logs, the VPC flow log; database logs go to groups RDS creates)',
    when: always,
    pricing: 'https://aws.amazon.com/cloudwatch/pricing/',
  },
  {
    type: 'AWS::EC2::FlowLog',
    charge: 'the flow log records delivered to CloudWatch Logs (vended logs, per GB)',
    when: always,
    pricing: 'https://aws.amazon.com/cloudwatch/pricing/',
  },
  {
    type: 'AWS::Lambda::Function',
    charge: 'per request and GB-second; nothing while idle',
    when: always,
    pricing: 'https://aws.amazon.com/lambda/pricing/',
  },
  {
    type: 'AWS::SQS::Queue',
    charge: 'per request (the mapping\'s polls included); nothing while idle beyond the polls',
    when: always,
    pricing: 'https://aws.amazon.com/sqs/pricing/',
  },
  {
    type: 'AWS::SNS::Topic',
    charge: 'per publish and delivery; nothing while idle',
    when: always,
    pricing: 'https://aws.amazon.com/sns/pricing/',
  },
  {
    type: 'AWS::Events::Rule',
    charge:
      'the backstop schedule of sg-sync-fn (public mode) and ingest-expire\'s hourly schedule ' +
      '(retentionDays): scheduled rules bill nothing of their own, their invocations are the functions\' requests',
    when: (c) => c.mode === 'public' || c.retention !== undefined,
    pricing: 'https://aws.amazon.com/eventbridge/pricing/',
  },
  {
    type: 'AWS::S3::Bucket',
    charge:
      'the archive (archive=true): per GB-month stored (gzip-compressed JSON Lines, S3 Standard) and per ' +
      'PUT request (one per chunk of EXPIRE_CHUNK_SIZE ids)',
    when: (c) => c.retention?.archive === true,
    pricing: 'https://aws.amazon.com/s3/pricing/',
  },
];

/** Every other type the templates create, and why it bills nothing of its own. */
export const UNPRICED_RESOURCE_TYPES: Readonly<Record<string, string>> = {
  'AWS::EC2::VPC': 'no charge for the VPC itself',
  'AWS::EC2::Subnet': 'no charge',
  'AWS::EC2::RouteTable': 'no charge',
  'AWS::EC2::SubnetRouteTableAssociation': 'no charge',
  'AWS::EC2::Route': 'no charge',
  'AWS::EC2::InternetGateway': 'no charge; traffic out bills as data transfer',
  'AWS::EC2::VPCGatewayAttachment': 'no charge',
  'AWS::EC2::SecurityGroup': 'no charge',
  'AWS::EC2::SecurityGroupIngress': 'no charge',
  'AWS::EC2::SecurityGroupEgress': 'no charge',
  'AWS::IAM::Role': 'IAM bills nothing',
  'AWS::IAM::Policy': 'IAM bills nothing',
  'AWS::RDS::DBParameterGroup': 'no charge',
  'AWS::RDS::DBClusterParameterGroup': 'no charge',
  'AWS::RDS::DBSubnetGroup': 'no charge',
  'AWS::RDS::DBProxyTargetGroup': 'billed as the proxy',
  'AWS::SecretsManager::SecretTargetAttachment': 'no charge',
  'AWS::Lambda::LayerVersion': 'within Lambda\'s free code storage',
  'AWS::Lambda::Version': 'within Lambda\'s free code storage',
  'AWS::Lambda::Url': 'its requests bill as the function\'s',
  'AWS::Lambda::EventSourceMapping': 'its polls bill as SQS requests',
  'AWS::Lambda::EventInvokeConfig': 'no charge',
  'AWS::Lambda::Permission': 'no charge',
  'AWS::SQS::QueuePolicy': 'no charge',
  'AWS::SNS::Subscription': 'deliveries bill as the topic\'s',
  'AWS::SNS::TopicPolicy': 'no charge',
  'Custom::VpcRestrictDefaultSG': 'runs once per deploy on a function listed above',
  'Custom::LogRetention': 'runs once per deploy on a function listed above',
  'Custom::Trigger': 'runs once per deploy on a function listed above',
  'AWS::S3::BucketPolicy': 'no charge',
  'Custom::AWS': 'runs once per deploy on a function listed above (the S3 prefix list lookup, archive=true in the vpc mode)',
};
