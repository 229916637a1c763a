// Retention (issue 29): retentionDays and archive, ingest-expire on its hourly schedule, its own
// database account, the archive bucket, least privilege, the alarms and the dashboard. Each rule
// AWS documents is cited beside its test.
import * as fs from 'fs';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { loadConfig } from '../lib/config';
import { EXPIRE_IAM_DB_USER, EXPIRE_PASSWORD_DB_USER } from '../lib/database-accounts';
import { ARCHIVE_PREFIX, EXPIRE_BUILD } from '../lib/retention';
import { crateManifest } from '../lib/rust-function';
import {
  Synthesized,
  allRuleCidrs,
  findOne,
  functionNamed,
  idsOf,
  nagReport,
  reaches,
  statementsOf,
  synth,
  triggerOf,
} from './helpers';

const off = synth();
const iam = synth({ retentionDays: '30' });
const archived = synth({ retentionDays: '30', archive: 'true' });
const vpcSecret = synth({ mode: 'vpc', dbAuth: 'secret', retentionDays: '7', archive: 'true' });
const WITH_RETENTION: [string, Synthesized, number][] = [
  ['public, iam', iam, 30],
  ['public, iam, archive', archived, 30],
  ['vpc, secret, archive', vpcSecret, 7],
];

const expireOf = (s: Synthesized) => functionNamed(s.json, 'ingest-expire');
const envOf = (s: Synthesized, binary: string) => functionNamed(s.json, binary)[1].Properties.Environment.Variables;
const bucketOf = (s: Synthesized) => findOne(s.json, 'AWS::S3::Bucket', () => true);
const secretOf = (s: Synthesized, username: string) =>
  findOne(s.json, 'AWS::SecretsManager::Secret', (p) =>
    p.GenerateSecretString?.SecretStringTemplate === JSON.stringify({ username }),
  );
const config = (values: Record<string, string>) => loadConfig((key) => values[key], 'ap-northeast-1');

/** The alarm on one metric of one function. */
function alarmOn(s: Synthesized, namespace: string, metricName: string, functionId: string): [string, any] {
  return findOne(
    s.json,
    'AWS::CloudWatch::Alarm',
    (p) =>
      p.Namespace === namespace &&
      p.MetricName === metricName &&
      JSON.stringify(p.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: { Ref: functionId } }]),
  );
}

describe('settings', () => {
  test('unset: every event is kept, as before, and nothing of ingest-expire exists', () => {
    expect(config({}).retention).toBeUndefined();
    expect(() => expireOf(off)).toThrow(/found 0/);
    expect(idsOf(off.json, 'AWS::S3::Bucket')).toEqual([]);
    expect(Object.keys(envOf(off, 'migrate')).filter((k) => k.startsWith('DB_EXPIRE_'))).toEqual([]);
    const alarms = idsOf(off.json, 'AWS::CloudWatch::Alarm').map((id) => off.json.Resources[id].Properties.MetricName);
    expect(alarms).not.toContain('OldestEventAgeSeconds');
    expect(Object.keys(off.json.Outputs)).not.toContain('ExpireFunctionName');
    // The one scheduled rule is sg-sync-fn's backstop.
    expect(idsOf(off.json, 'AWS::Events::Rule')).toHaveLength(1);
  });

  test('retentionDays is a whole number of days from 1 to 36500, as RETENTION_DAYS; archive a flag', () => {
    expect(config({ retentionDays: '1' }).retention).toEqual({ days: 1, archive: false });
    expect(config({ retentionDays: ' 36500 ', archive: 'TRUE' }).retention).toEqual({ days: 36500, archive: true });
    expect(loadConfig((k) => (k === 'retentionDays' ? 90 : undefined)).retention).toEqual({ days: 90, archive: false });
    for (const bad of ['0', '36501', 'thirty', '1.5', '-3', '30d']) {
      expect(() => config({ retentionDays: bad })).toThrow(
        new RegExp(`^context retentionDays=${JSON.stringify(bad.trim())}: expected a whole number of days from 1 to 36500`),
      );
    }
    expect(() => config({ retentionDays: '30', archive: 'yes' })).toThrow(/context archive="yes": expected true or false/);
  });

  test('archive without retentionDays is refused: the bucket would stay empty', () => {
    expect(() => config({ archive: 'true' })).toThrow(/context archive="true": .*without retentionDays it deletes nothing.*retentionDays=N/);
    expect(config({ archive: 'false' }).retention).toBeUndefined();
  });

  test('a misspelled key is refused, naming the setting', () => {
    expect(() => synth({ retentionDay: '30' })).toThrow(/context retentionDay="30": .*did you mean retentionDays\?/);
  });

  // "You can reserve up to the Unreserved account concurrency value minus 100": ingest-expire's
  // one reserved execution comes out of the same quota as ingest-fn's.
  // https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
  test('Lambda: ingest-expire\'s reservation of 1 counts against lambdaConcurrencyQuota beside ingest-fn\'s', () => {
    expect(config({ lambdaConcurrencyQuota: '190' }).ingestConcurrency).toBe(90);
    expect(config({ lambdaConcurrencyQuota: '190', retentionDays: '30' }).ingestConcurrency).toBe(89);
    expect(() => config({ lambdaConcurrencyQuota: '190', ingestConcurrency: '90', retentionDays: '30' })).toThrow(
      /ingestConcurrency="90": .*100 that Lambda keeps unreserved - 1 for ingest-expire \(retentionDays\) leaves 89; at most 89/,
    );
    expect(() => config({ lambdaConcurrencyQuota: '100', retentionDays: '30' })).toThrow(/at least 102/);
  });
});

describe.each(WITH_RETENTION)('%s', (mode, s, days) => {
  const secret = mode.includes('secret');
  const archive = mode.includes('archive');
  const [expireId, expire] = expireOf(s);

  test('ingest-expire of expire-fn, 5-minute timeout, one reserved execution, no async retries', () => {
    expect(EXPIRE_BUILD).toEqual({ manifestPath: crateManifest('expire-fn'), binaryName: 'ingest-expire' });
    expect(fs.readFileSync(EXPIRE_BUILD.manifestPath, 'utf8')).toMatch(/\[\[bin\]\]\nname = "ingest-expire"/);
    expect(expire.Properties.Runtime).toBe('provided.al2023');
    expect(expire.Properties.Timeout).toBe(300);
    expect(expire.Properties.ReservedConcurrentExecutions).toBe(1);
    const invokeConfig = findOne(s.json, 'AWS::Lambda::EventInvokeConfig', (p) => p.FunctionName?.Ref === expireId)[1];
    expect(invokeConfig.Properties).toMatchObject({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 3600 });
  });

  test('an hourly EventBridge schedule invokes it', () => {
    const [, rule] = findOne(s.json, 'AWS::Events::Rule', (p) =>
      (p.Targets ?? []).some((t: any) => t.Arn?.['Fn::GetAtt']?.[0] === expireId),
    );
    expect(rule.Properties.ScheduleExpression).toBe('rate(1 hour)');
    expect(rule.Properties.State).toBe('ENABLED');
    expect(rule.Properties.Targets[0].RetryPolicy).toEqual({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
  });

  test('environment: the database as ingest-fn reads it, its own account, RETENTION_DAYS, the archive', () => {
    const env = envOf(s, 'ingest-expire');
    const shared = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_TLS', 'DB_CA_BUNDLE', 'DB_POOL_MAX', 'METRICS_NAMESPACE'];
    const account = secret ? ['DB_SECRET_ARN'] : ['DB_USER', 'DB_IAM_AUTH'];
    const archiveKeys = archive ? ['ARCHIVE_BUCKET', 'ARCHIVE_PREFIX'] : [];
    expect(Object.keys(env).sort()).toEqual([...shared, ...account, 'RETENTION_DAYS', ...archiveKeys].sort());
    expect(env.RETENTION_DAYS).toBe(String(days));
    expect(env.DB_POOL_MAX).toBe('1');
    expect(env.DB_TLS).toBe('verify-identity');
    expect(env.METRICS_NAMESPACE).toBe(envOf(s, 'ingest-fn').METRICS_NAMESPACE);
    expect(env.DB_HOST).toEqual(envOf(s, 'migrate').DB_HOST);
    if (secret) {
      expect(env.DB_SECRET_ARN).toEqual({ Ref: secretOf(s, EXPIRE_PASSWORD_DB_USER)[0] });
    } else {
      expect(env).toMatchObject({ DB_USER: 'ingest_expire', DB_IAM_AUTH: 'true' });
    }
    if (archive) expect(env).toMatchObject({ ARCHIVE_BUCKET: { Ref: bucketOf(s)[0] }, ARCHIVE_PREFIX: 'events/' });
  });

  test('migrate creates its account: DB_EXPIRE_IAM_USER, or DB_EXPIRE_SECRET_ARN it may read', () => {
    const env = envOf(s, 'migrate');
    expect(EXPIRE_IAM_DB_USER).toBe('ingest_expire');
    if (secret) {
      const [expireSecret] = secretOf(s, EXPIRE_PASSWORD_DB_USER);
      expect(env.DB_EXPIRE_SECRET_ARN).toEqual({ Ref: expireSecret });
      expect(env.DB_EXPIRE_IAM_USER).toBeUndefined();
      const reads = statementsOf(s.json, functionNamed(s.json, 'migrate')[1]).filter((st) =>
        [st.Resource].flat().some((r: any) => r?.Ref === expireSecret),
      );
      expect(reads.map((st) => st.Action)).toEqual(['secretsmanager:GetSecretValue']);
    } else {
      expect(env.DB_EXPIRE_IAM_USER).toBe('ingest_expire');
      expect(env.DB_EXPIRE_SECRET_ARN).toBeUndefined();
    }
  });

  // The role may do exactly this: log in as ingest_expire (rds-db:connect on that database user,
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html)
  // or read its own secret; and write objects under the archive prefix. A conditional write with
  // If-None-Match needs s3:PutObject only ("To perform a conditional write with the HTTP
  // If-None-Match header, you must have the s3:PutObject permission").
  // https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html#conditional-write-key-names
  test('IAM: exactly its login and s3:PutObject on the archive prefix, nothing else', () => {
    const grants = statementsOf(s.json, expire).map((st) => ({
      effect: st.Effect,
      actions: [st.Action].flat(),
      resources: [st.Resource].flat(),
      condition: st.Condition,
    }));
    const login = secret
      ? { effect: 'Allow', actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: secretOf(s, EXPIRE_PASSWORD_DB_USER)[0] }], condition: undefined }
      : expect.objectContaining({ effect: 'Allow', actions: ['rds-db:connect'] });
    const put = {
      effect: 'Allow',
      actions: ['s3:PutObject'],
      resources: [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketOf(archive ? s : archived)[0], 'Arn'] }, `/${ARCHIVE_PREFIX}*`]] }],
      condition: undefined,
    };
    expect(grants).toEqual(archive ? [login, put] : [login]);
    if (!secret) {
      // rds-db:connect on arn:aws:rds-db:<region>:<account>:dbuser:<DbiResourceId>/ingest_expire only.
      const resource = JSON.stringify(grants[0].resources);
      expect(grants[0].resources).toHaveLength(1);
      expect(resource).toMatch(/dbuser:/);
      expect(resource).toMatch(/\/ingest_expire"\]\]\}\]$/);
      expect(resource).not.toMatch(/\*/);
    }
    // No other principal's grant names it: no GetObject, ListBucket or delete anywhere for it.
    const all = JSON.stringify(grants);
    for (const never of ['s3:GetObject', 's3:ListBucket', 's3:DeleteObject', 's3:*', 'rds-db:*']) expect(all).not.toContain(never);
  });

  // A separate AWS::IAM::Policy is created in parallel with anything that does not depend on it.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
  test('IAM: the function and its first run wait for its role policies', () => {
    const role = expire.Properties.Role['Fn::GetAtt'][0];
    const policies = idsOf(s.json, 'AWS::IAM::Policy').filter((id) =>
      (s.json.Resources[id].Properties.Roles ?? []).some((r: any) => r.Ref === role),
    );
    expect(policies.length).toBeGreaterThanOrEqual(1);
    const [firstRun] = triggerOf(s.json, expireId);
    for (const from of [expireId, firstRun]) {
      for (const policy of policies) expect({ from, policy, waits: reaches(s.json, from, policy) }).toEqual({ from, policy, waits: true });
    }
  });

  test('it runs after migrate (its account exists), and once at once after each change', () => {
    const migrateTrigger = triggerOf(s.json, functionNamed(s.json, 'migrate')[0])[0];
    const [firstRun, trigger] = triggerOf(s.json, expireId);
    expect(trigger.Properties.InvocationType).toBe('Event');
    expect(trigger.Properties.ExecuteOnHandlerChange).toBe(true);
    const [rule] = findOne(s.json, 'AWS::Events::Rule', (p) =>
      (p.Targets ?? []).some((t: any) => t.Arn?.['Fn::GetAtt']?.[0] === expireId),
    );
    for (const from of [rule, firstRun]) {
      expect({ from, afterMigrate: reaches(s.json, from, migrateTrigger) }).toEqual({ from, afterMigrate: true });
    }
    // Nothing else invokes it: no other rule, mapping, URL or subscription names it.
    const invokers = Object.entries(s.json.Resources)
      .filter(([, r]) => ['AWS::Events::Rule', 'AWS::Lambda::EventSourceMapping', 'AWS::Lambda::Url', 'AWS::SNS::Subscription'].includes(r.Type))
      .filter(([, r]) => JSON.stringify(r.Properties).includes(`"${expireId}"`))
      .map(([id]) => id);
    expect(invokers).toEqual([rule]);
  });

  // Missing data breaching: a job that stopped reporting is as bad as one that falls behind.
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-and-missing-data
  test('OldestEventAge: Maximum per hour > (retentionDays + 1) days, 3 of 3 hours, missing data breaching', () => {
    const [, alarm] = alarmOn(s, 'LambdaRdsIngest', 'OldestEventAgeSeconds', expireId);
    const [topic] = findOne(s.json, 'AWS::SNS::Topic', () => true);
    expect(alarm.Properties).toMatchObject({
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: expireId } }],
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: (days + 1) * 86400,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: topic }],
      OKActions: [{ Ref: topic }],
    });
    expect(alarm.Properties.AlarmDescription).toMatch(/Runbook: docs\/operations\.md#oldesteventage$/);
    const [errorsId, errors] = alarmOn(s, 'AWS/Lambda', 'Errors', expireId);
    expect(errorsId).toMatch(/ExpireErrors/);
    expect(errors.Properties).toMatchObject({
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: expireId } }],
      Statistic: 'Sum',
      Period: 3600,
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    expect(errors.Properties.AlarmDescription).toMatch(/Runbook: docs\/operations\.md#expireerrors$/);
  });

  test('the dashboard graphs EventsExpired, EventsArchived and OldestEventAgeSeconds of the function', () => {
    const [, dashboard] = findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true);
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of ['EventsExpired', 'EventsArchived', 'OldestEventAgeSeconds']) {
      expect(body).toMatch(new RegExp(`\\\\"LambdaRdsIngest\\\\",\\\\"${name}\\\\",\\\\"FunctionName\\\\"`));
    }
    expect(body).toContain('OldestEventAge alarm');
  });

  test('outputs name the function and, with the archive, the bucket', () => {
    expect(s.json.Outputs.ExpireFunctionName.Value).toEqual({ Ref: expireId });
    if (archive) expect(s.json.Outputs.ArchiveBucketName.Value).toEqual({ Ref: bucketOf(s)[0] });
    else expect(s.json.Outputs.ArchiveBucketName).toBeUndefined();
  });
});

describe('the archive bucket (archive=true)', () => {
  test.each([
    ['public', archived],
    ['vpc', vpcSecret],
  ])('%s: retained, SSE-S3, versioned, public access blocked, objects owned by the bucket owner', (_mode, s) => {
    const [bucketId, bucket] = bucketOf(s);
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    expect(bucket.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    // Nothing empties it on delete.
    expect(idsOf(s.json, 'Custom::S3AutoDeleteObjects')).toEqual([]);
    expect(s.json.Resources[bucketId].Properties.Tags ?? []).not.toContainEqual(expect.objectContaining({ Key: 'aws-cdk:auto-delete-objects' }));
  });

  // TLS only: a Deny of every action on the bucket and its objects when aws:SecureTransport is
  // false. https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
  test.each([
    ['public', archived],
    ['vpc', vpcSecret],
  ])('%s: the bucket policy denies every request without TLS, and is retained with the bucket', (_mode, s) => {
    const [bucketId] = bucketOf(s);
    const [, policy] = findOne(s.json, 'AWS::S3::BucketPolicy', (p) => p.Bucket?.Ref === bucketId);
    expect(policy.DeletionPolicy).toBe('Retain');
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Resource: [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/*']] }],
      },
    ]);
  });
});

describe('vpc mode', () => {
  const [expireId, expire] = expireOf(vpcSecret);
  const group = expire.Properties.VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'][0];
  const egress = idsOf(vpcSecret.json, 'AWS::EC2::SecurityGroupEgress')
    .map((id) => vpcSecret.json.Resources[id].Properties)
    .filter((p) => p.GroupId?.['Fn::GetAtt']?.[0] === group);

  test('its own group in the isolated subnets, with migrate\'s reach to MySQL and Secrets Manager', () => {
    expect(expire.Properties.VpcConfig.SubnetIds).toHaveLength(2);
    expect(group).not.toBe(functionNamed(vpcSecret.json, 'migrate')[1].Properties.VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'][0]);
    expect(vpcSecret.json.Resources[group].Properties.SecurityGroupEgress).toBeUndefined();
    expect(egress.map((p) => p.FromPort).sort()).toEqual([3306, 443, 443]);
    const [database] = findOne(vpcSecret.json, 'AWS::RDS::DBInstance', () => true);
    const privateGroup = vpcSecret.json.Resources[database].Properties.VPCSecurityGroups[0]['Fn::GetAtt'][0];
    expect(egress.find((p) => p.FromPort === 3306).DestinationSecurityGroupId).toEqual({ 'Fn::GetAtt': [privateGroup, 'GroupId'] });
  });

  // Isolated subnets reach S3 only through a gateway endpoint; its policy and the group's egress
  // to S3's prefix list keep that path to the archive. No rule names 0.0.0.0/0.
  // https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html
  test('the archive through an S3 gateway endpoint that admits its PutObject on the prefix only', () => {
    const [, endpoint] = findOne(vpcSecret.json, 'AWS::EC2::VPCEndpoint', (p) => p.VpcEndpointType === 'Gateway');
    expect(JSON.stringify(endpoint.Properties.ServiceName)).toContain('.s3');
    expect(endpoint.Properties.RouteTableIds).toHaveLength(2);
    const [bucketId] = bucketOf(vpcSecret);
    expect(endpoint.Properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { AWS: { 'Fn::GetAtt': [expire.Properties.Role['Fn::GetAtt'][0], 'Arn'] } },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/events/*']] },
      },
    ]);
    const toS3 = egress.filter((p) => p.DestinationPrefixListId !== undefined);
    expect(toS3).toHaveLength(1);
    expect(toS3[0]).toMatchObject({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443 });
    const [lookup] = findOne(vpcSecret.json, 'Custom::AWS', () => true);
    expect(toS3[0].DestinationPrefixListId).toEqual({ 'Fn::GetAtt': [lookup, 'PrefixLists.0.PrefixListId'] });
    // The first run waits for the route.
    const [firstRun] = triggerOf(vpcSecret.json, expireId);
    const [endpointId] = findOne(vpcSecret.json, 'AWS::EC2::VPCEndpoint', (p) => p.VpcEndpointType === 'Gateway');
    const egressId = idsOf(vpcSecret.json, 'AWS::EC2::SecurityGroupEgress').find(
      (id) => vpcSecret.json.Resources[id].Properties.DestinationPrefixListId !== undefined,
    ) as string;
    for (const to of [endpointId, egressId]) expect({ to, waits: reaches(vpcSecret.json, firstRun, to) }).toEqual({ to, waits: true });
    const cidrs = allRuleCidrs(vpcSecret.json);
    expect(cidrs).not.toContain('0.0.0.0/0');
    expect(cidrs).not.toContain('::/0');
    expect(expireId).toBeDefined();
  });

  test('without the archive, no endpoint to S3 and no HTTPS beyond Secrets Manager', () => {
    const s = synth({ mode: 'vpc', retentionDays: '30' });
    expect(idsOf(s.json, 'AWS::EC2::VPCEndpoint').map((id) => s.json.Resources[id].Properties.VpcEndpointType)).toEqual(['Interface']);
    expect(idsOf(s.json, 'Custom::AWS')).toEqual([]);
  });
});

describe('cdk-nag', () => {
  /** The acknowledged findings on retention's own resources, as `rule at path`. */
  const retentionFindings = (s: Synthesized) =>
    nagReport(s)
      .suppressedViolations.flatMap((v: any) =>
        v.violatingConstructs.map((c: any) => `${v.ruleName} at ${c.constructPath.replace(/^LambdaRdsIngest\//, '')}`),
      )
      .filter((f: string) => / at (Retention|Database\/ExpireSecret)/.test(f))
      .sort();

  test.each([
    ['public, iam', iam],
    ['public, iam, archive', archived],
    ['vpc, secret, archive', vpcSecret],
  ])('%s: no unacknowledged finding; on its resources only what must be, each with a reason', (mode, s) => {
    const report = nagReport(s);
    expect(report.violations).toEqual([]);
    for (const v of report.suppressedViolations) expect(v.reason.length).toBeGreaterThan(40);
    const bucket = mode.includes('archive') ? bucketOf(s)[0] : '';
    const managed = (name: string) =>
      `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${name}] at Retention/Function/ServiceRole/Resource`;
    const expected = [
      // The managed execution roles every function of the stack has (acknowledged stack-wide).
      managed('AWSLambdaBasicExecutionRole'),
      ...(mode.includes('vpc') ? [managed('AWSLambdaVPCAccessExecutionRole')] : []),
      // No server access logs on the archive (one writer; CloudTrail data events instead).
      ...(mode.includes('archive') ? ['AwsSolutions-S1 at Retention/Archive/Resource'] : []),
      // PutObject on <archive>/events/*: the keys are made per chunk.
      ...(mode.includes('archive')
        ? [`AwsSolutions-IAM5[Resource::<${bucket}.Arn>/events/*] at Retention/Function/inlinePolicyAddedToExecutionRole-0/Resource`]
        : []),
      ...(mode.includes('secret') ? ['AwsSolutions-SMG4 at Database/ExpireSecret/Resource'] : []),
      // The prefix list lookup: DescribeManagedPrefixLists takes no resource.
      ...(mode.includes('vpc') ? ['AwsSolutions-IAM5[Resource::*] at Retention/S3PrefixList/CustomResourcePolicy/Resource'] : []),
    ].sort();
    expect(retentionFindings(s)).toEqual(expected);
    // No warning of its own at synth (the schedule's permission on the unqualified function is
    // acknowledged: only the first-run trigger invokes the version).
    const warnings = Annotations.fromStack(s.stack)
      .findWarning('*', Match.anyValue())
      .filter((w) => w.id.startsWith('/LambdaRdsIngest/Retention/'));
    expect(warnings.map((w) => w.entry.data)).toEqual([]);
  });
});
