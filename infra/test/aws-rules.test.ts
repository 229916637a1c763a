// Rules that real AWS enforces at deploy or run time but that synth, cdk-nag and cfn-lint do
// not check. Each test is named after the rule, cites where AWS documents it, and runs on the
// templates of every mode.
import { DEFAULT_MYSQL_VERSION, loadConfig } from '../lib/config';
import { SYNC_IAM_SETTLE } from '../lib/sync-function';
import { ALL_MODES, Synthesized, findOne, functionNamed, idsOf, reaches, referencedIds, synth, synthEveryMode, triggerOf } from './helpers';

const { synthesized, everyMode } = synthEveryMode(ALL_MODES);

/** The role logical id of a function. */
const roleOf = (fn: any): string => fn.Properties.Role['Fn::GetAtt'][0];

/** Every AWS::IAM::Policy and AWS::IAM::ManagedPolicy attached to a role. */
function policiesOn(json: Synthesized['json'], role: string): string[] {
  return [...idsOf(json, 'AWS::IAM::Policy'), ...idsOf(json, 'AWS::IAM::ManagedPolicy')].filter((id) =>
    (json.Resources[id].Properties.Roles ?? []).some((r: any) => r.Ref === role),
  );
}

describe.each(everyMode)('%s', (_mode, s) => {
  // A separate AWS::IAM::Policy is not part of the role: CloudFormation creates it in parallel
  // with anything that does not depend on it (DependsOn, or a Ref/GetAtt).
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
  test('IAM: every function, event source mapping, Function URL and trigger waits for its role policies', () => {
    const functions = idsOf(s.json, 'AWS::Lambda::Function');
    let checked = 0;
    for (const fnId of functions) {
      const policies = policiesOn(s.json, roleOf(s.json.Resources[fnId]));
      const users = Object.entries(s.json.Resources)
        .filter(([, r]) =>
          ['AWS::Lambda::EventSourceMapping', 'AWS::Lambda::Url', 'Custom::Trigger'].includes(r.Type),
        )
        .map(([id]) => id)
        .filter((id) => reaches(s.json, id, fnId));
      for (const from of [fnId, ...users]) {
        for (const policy of policies) {
          expect({ from, policy, waits: reaches(s.json, from, policy) }).toEqual({ from, policy, waits: true });
          checked++;
        }
      }
    }
    // The three functions of the project carry separate policies (grants); the check is real.
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  // SNS: "the Amazon SQS queue [a dead-letter queue] must be in the same AWS account and Region
  // as the subscription". https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html
  test('SNS: no cross-region subscription carries a RedrivePolicy', () => {
    for (const id of idsOf(s.json, 'AWS::SNS::Subscription')) {
      const p = s.json.Resources[id].Properties;
      if (p.Region !== undefined && p.Region !== 'ap-northeast-1') expect(p.RedrivePolicy).toBeUndefined();
    }
  });

  // CloudWatch publishes to an encrypted topic only if the key policy lets
  // cloudwatch.amazonaws.com call kms:Decrypt and kms:GenerateDataKey*; the AWS-managed
  // alias/aws/sns key cannot be changed to allow it.
  // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
  test('KMS: every alarm topic is unencrypted or its key lets CloudWatch use it', () => {
    const topics = new Set<string>();
    for (const id of idsOf(s.json, 'AWS::CloudWatch::Alarm')) {
      for (const action of s.json.Resources[id].Properties.AlarmActions ?? []) topics.add(action.Ref);
    }
    expect(topics.size).toBeGreaterThan(0);
    for (const topic of topics) {
      const keyRef = s.json.Resources[topic].Properties.KmsMasterKeyId;
      if (keyRef === undefined) continue;
      const keyId = keyRef['Fn::GetAtt']?.[0] ?? keyRef.Ref;
      const key = s.json.Resources[keyId];
      expect(key?.Type).toBe('AWS::KMS::Key');
      expect(key.Properties.EnableKeyRotation).toBe(true);
      const grants = key.Properties.KeyPolicy.Statement.filter(
        (st: any) => st.Effect === 'Allow' && [st.Principal?.Service].flat().includes('cloudwatch.amazonaws.com'),
      ).flatMap((st: any) => [st.Action].flat());
      expect(grants).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));
    }
  });

  // Least privilege: the internet-facing function never holds the admin's credentials.
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege
  test('IAM: no policy on ingest-fn\'s role grants anything on the master secret', () => {
    const [, fn] = functionNamed(s.json, 'ingest-fn');
    const master = findOne(s.json, 'AWS::SecretsManager::Secret', (p) =>
      (p.GenerateSecretString?.SecretStringTemplate ?? '').includes('"admin"'),
    )[0];
    const attachment = findOne(s.json, 'AWS::SecretsManager::SecretTargetAttachment', () => true)[0];
    const forbidden = [master, attachment];
    for (const policy of policiesOn(s.json, roleOf(fn))) {
      const refs = referencedIds(s.json.Resources[policy].Properties.PolicyDocument);
      expect(refs.filter((r) => forbidden.includes(r))).toEqual([]);
    }
    expect(referencedIds(fn.Properties.Environment)).not.toContain(attachment);
    expect(referencedIds(fn.Properties.Environment)).not.toContain(master);
  });

  // The slowquery export publishes the slow query log file, which MySQL writes only with
  // slow_query_log on and log_output=FILE (RDS defaults to TABLE).
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html
  test('RDS: every exported log is one the parameter group turns on', () => {
    const [, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    const params = s.json.Resources[db.Properties.DBParameterGroupName.Ref].Properties.Parameters;
    const exports: string[] = db.Properties.EnableCloudwatchLogsExports ?? [];
    if (exports.includes('slowquery')) {
      expect(params).toMatchObject({ slow_query_log: '1', log_output: 'FILE' });
      expect(Number(params.long_query_time)).toBeGreaterThan(0);
    }
    if (exports.includes('general')) expect(params.general_log).toBe('1');
  });

  // "You can reserve up to the Unreserved account concurrency value minus 100"; a new account
  // may have a quota of 10, where any reservation fails the deploy.
  // https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
  test('Lambda: migrate reserves no concurrency', () => {
    const [, migrate] = functionNamed(s.json, 'migrate');
    expect(migrate.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  // Standard support for RDS MySQL 8.0 ended on 31 July 2026; later it bills Extended Support.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support.html
  test('RDS: the default engine is MySQL 8.4 with the mysql8.4 parameter family', () => {
    const [, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    expect(db.Properties.EngineVersion).toBe(DEFAULT_MYSQL_VERSION);
    const group = s.json.Resources[db.Properties.DBParameterGroupName.Ref];
    expect(group.Properties.Family).toBe('mysql8.4');
  });
});

describe('pool', () => {
  // GroupDescription: "Update requires: Replacement". A replaced group comes back empty.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroup.html
  test('EC2: growing the pool from 3 to 4 groups leaves the first three untouched', () => {
    const three = synth({ securityGroupPoolSize: '3' });
    const four = synth({ securityGroupPoolSize: '4' });
    const pool = (x: Synthesized) => {
      const [, db] = findOne(x.json, 'AWS::RDS::DBInstance', () => true);
      return db.Properties.VPCSecurityGroups.map((g: any) => g['Fn::GetAtt'][0]);
    };
    const [a, b] = [pool(three), pool(four)];
    expect(b).toHaveLength(4);
    expect(b.slice(0, 3)).toEqual(a);
    for (const id of a) expect(four.json.Resources[id]).toEqual(three.json.Resources[id]);
  });

  // "Security groups per network interface: 5 ... The quota for security groups per network
  // interface multiplied by the quota for rules per security group can't exceed 1,000."
  // https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
  test('VPC: a pool larger than securityGroupsPerInterface is refused at synth, with the arithmetic', () => {
    const get = (values: Record<string, string>) => () => loadConfig((k) => values[k]);
    expect(get({ securityGroupPoolSize: '6' })).toThrow(
      /securityGroupPoolSize="6": the instance would carry 6 security groups but securityGroupsPerInterface is 5; at most 5/,
    );
    expect(get({ securityGroupPoolSize: '6', securityGroupsPerInterface: '6' })().securityGroupPoolSize).toBe(6);
    expect(get({ rulesPerGroup: '250' })).toThrow(
      /rulesPerGroup="250": 250 rules x 5 groups per interface exceed the VPC limit of 1000 rules per network interface; at most 200/,
    );
    expect(() => synth({ securityGroupPoolSize: '6' })).toThrow(/securityGroupsPerInterface is 5/);
  });
});

describe('sg-sync-fn timing', () => {
  // IAM changes are eventually consistent: a policy just created may not be in effect yet.
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
  test('IAM: the function and its deploy trigger outlast the 60 s IAM settling wait', () => {
    const s = synthesized.get('public, iam') as Synthesized;
    const [fnId, fn] = functionNamed(s.json, 'sg-sync-fn');
    expect(fn.Properties.Timeout).toBeGreaterThanOrEqual(SYNC_IAM_SETTLE.toSeconds() + 30);
    const [, trigger] = triggerOf(s.json, fnId);
    expect(Number(trigger.Properties.Timeout)).toBeGreaterThan(fn.Properties.Timeout * 1000);
  });
});
