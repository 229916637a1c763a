import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { ARCHIVE_PREFIX } from './retention';
import { StackConfig } from './config';
import { IConstruct } from 'constructs';

// cdk-nag's AwsSolutions findings this design accepts, each with its reason. Everything else
// fails `cdk synth` and the infra tests.

interface Acknowledgement {
  readonly id: string;
  readonly reason: string;
}

const BASIC_EXECUTION_ROLE =
  'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';
const VPC_ACCESS_EXECUTION_ROLE =
  'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]';

const everywhere: Acknowledgement[] = [
  {
    id: BASIC_EXECUTION_ROLE,
    reason:
      'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, CreateLogStream and PutLogEvents; ' +
      "AWS keeps it current, and each function's log group is its own",
  },
  {
    id: VPC_ACCESS_EXECUTION_ROLE,
    reason:
      'vpc mode: AWSLambdaVPCAccessExecutionRole is the ENI and log permission set Lambda needs to ' +
      'attach to the VPC; its EC2 actions do not take resource-level permissions',
  },
];

/** The admin secret's, the instance's or the cluster's alike. */
const ADMIN_SECRET_ROTATION: Acknowledgement = {
  id: 'AwsSolutions::AwsSolutions-SMG4',
  reason:
    'The admin (master) secret is read by migrate alone, once per deploy, inside the stack; ' +
    'ingest-fn never sees it: it logs in with IAM tokens or with the least-privilege account ' +
    'of its own secret. Rotation needs a rotation function with network access to the ' +
    'database, which this reference stack leaves to its operator',
};

const byPath: Record<string, Acknowledgement[]> = {
  'Database/Instance': [
    {
      id: 'AwsSolutions::AwsSolutions-RDS3',
      reason:
        'A single-AZ instance keeps the reference stack cheap at rest; automated backups cover ' +
        'recovery. Set multiAz on the instance for production availability',
    },
    {
      id: 'AwsSolutions::AwsSolutions-RDS11',
      reason:
        'Port 3306 is what sg-sync-fn opens and clients expect; a non-default port hides nothing ' +
        'from a scan, and the security groups, TLS and IAM authentication are the real gate',
    },
    {
      id: 'CloudFormation-Validate::W9011',
      reason:
        'public mode: the function runs outside any VPC, so the instance must be public; its ' +
        'groups admit only the EC2 ranges of the region (docs/decisions/outside-the-vpc.md). The ' +
        'vpc mode makes it private',
    },
  ],
  // engine=aurora-mysql (lib/database-cluster.ts).
  'Database/Cluster': [
    {
      id: 'AwsSolutions::AwsSolutions-RDS11',
      reason:
        'Port 3306 is what sg-sync-fn opens and clients expect; a non-default port hides nothing ' +
        'from a scan, and the security groups, TLS and IAM authentication are the real gate',
    },
    {
      id: 'AwsSolutions::AwsSolutions-RDS14',
      reason:
        'Backtrack can only be chosen when a cluster is created, bills for the change records it ' +
        'keeps, and is not offered in every region; automated backups (point-in-time restore) ' +
        'cover recovery, as for the RDS instance',
    },
    {
      id: 'CloudFormation-Validate::W9011',
      reason:
        'public mode: the function runs outside any VPC, so the writer (and any reader) must be ' +
        'public; the cluster\'s groups admit only the EC2 ranges of the region ' +
        '(docs/decisions/outside-the-vpc.md). The vpc mode makes them private',
    },
  ],
  'Database/Cluster/Secret': [ADMIN_SECRET_ROTATION],
  'Database/Instance/Secret': [ADMIN_SECRET_ROTATION],
  'Database/IngestSecret': [
    {
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'dbAuth=secret: the password of ingest-fn\'s SELECT/INSERT account. To rotate, put a new ' +
        'value in the secret and re-run migrate (it sets the account password from the secret); ' +
        'ingest-fn reads the secret again when a login is refused (error 1045)',
    },
  ],
  'Database/ReaderSecret': [
    {
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'dbAuth=secret: the password of the read-only account (SELECT on events) that migrate ' +
        'alone reads, to answer verify requests. To rotate, put a new value in the secret and ' +
        're-run migrate (it sets the account password from the secret); each verify request ' +
        'reads the secret anew',
    },
  ],
  'Database/ExpireSecret': [
    {
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'dbAuth=secret with retentionDays: the password of ingest-expire\'s SELECT/DELETE account. To ' +
        'rotate, put a new value in the secret and re-run migrate (it sets the account password from ' +
        'the secret); each ingest-expire environment reads the secret when it starts',
    },
  ],
  // retentionDays (lib/retention.ts).
  'Retention/Function': [
    {
      id: 'Annotation::@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      reason:
        'EventBridge invokes the unqualified function; only the first-run trigger uses a version, ' +
        'through its own lambda:InvokeFunction grant',
    },
  ],
  // archive=true.
  'Retention/Archive': [
    {
      id: 'AwsSolutions::AwsSolutions-S1',
      reason:
        'The archive has one writer, ingest-expire, whose role may only PutObject under the prefix; ' +
        'server access logs would need a second bucket (itself unlogged) to record that one writer. ' +
        'CloudTrail data events record object-level access where an operator wants it',
    },
  ],
  // archive=true, vpc mode: the deploy-time lookup of S3's prefix list id for the function's egress.
  'Retention/S3PrefixList/CustomResourcePolicy': [
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeManagedPrefixLists supports no resource-level permissions; the lookup reads the ' +
        'id of S3\'s AWS-managed prefix list and changes nothing',
    },
  ],
  'Sync/Function': [
    {
      id: 'Annotation::@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      reason:
        'SNS and EventBridge invoke the unqualified function; only the deploy trigger uses a ' +
        'version, through its own lambda:InvokeFunction grant',
    },
  ],
  // aws-cdk-lib's log-retention handler (the RDS log exports' cloudwatchLogsRetention). The
  // groups are named after the instance identifier CloudFormation generates, so none is known
  // when the role is made.
  'LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a/ServiceRole/DefaultPolicy': [
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'logs:PutRetentionPolicy and logs:DeleteRetentionPolicy only: aws-cdk-lib\'s log-retention ' +
        'handler sets the 30-day retention of the RDS log groups, named after the generated ' +
        'instance identifier; it reads and writes no log data',
    },
  ],
  'Sync/DescribeSecurityGroups': [
    {
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeSecurityGroups, DescribeSecurityGroupRules and DescribeManagedPrefixLists ' +
        'support no resource-level permissions; every write is limited to the pool groups',
    },
  ],
};

function acknowledge(scope: IConstruct, list: Acknowledgement[]): void {
  for (const a of list) Validations.of(scope).acknowledge(a);
}

/** Findings that follow from a setting the operator chose on purpose. */
function chosen(config: StackConfig): Record<string, Acknowledgement[]> {
  if (config.protectDatabase) return {};
  return {
    'Database/Instance': [
      {
        id: 'AwsSolutions::AwsSolutions-RDS10',
        reason: 'protectDatabase=false: a throwaway stack whose database may go with it',
      },
    ],
    'Database/Cluster': [
      {
        id: 'AwsSolutions::AwsSolutions-RDS10',
        reason: 'protectDatabase=false: a throwaway stack whose database may go with it',
      },
    ],
  };
}

/** ingest-expire's s3:PutObject on the archive's prefix: a wildcard for the object keys, which
 *  are made per chunk (time and id range), within the one prefix of the one bucket. */
function archiveWrites(stack: Stack): Record<string, Acknowledgement[]> {
  const scope = findPath(stack, 'Retention/Archive');
  if (!scope) return {};
  const bucket = stack.getLogicalId(scope.node.defaultChild as CfnElement);
  return {
    'Retention/Function': [
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${ARCHIVE_PREFIX}*]`,
        reason:
          `s3:PutObject only, on the keys under ${ARCHIVE_PREFIX} in the archive bucket: each chunk's ` +
          'object key is made at run time from its time and id range, and written with If-None-Match: *',
      },
    ],
  };
}

export function acknowledgeFindings(stack: Stack, config: StackConfig): void {
  acknowledge(stack, everywhere);
  for (const [path, list] of Object.entries(archiveWrites(stack))) {
    const scope = findPath(stack, path);
    if (scope) acknowledge(scope, list);
  }
  for (const [path, list] of Object.entries(chosen(config))) {
    const scope = findPath(stack, path);
    if (scope) acknowledge(scope, list);
  }
  for (const [path, list] of Object.entries(byPath)) {
    const scope = findPath(stack, path);
    if (scope) acknowledge(scope, list);
  }
}

function findPath(root: IConstruct, path: string): IConstruct | undefined {
  let node: IConstruct | undefined = root;
  for (const part of path.split('/')) {
    node = node?.node.tryFindChild(part);
  }
  return node;
}
