// What synth leaves behind, and what an update of an existing stack would replace.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { App, Stack } from 'aws-cdk-lib';
import { caBundleCode, rdsCaBundle } from '../lib/ca-bundle';
import { idsOf, synth } from './helpers';

/** Every file under infra/ but the installed packages, with its size and modification time. */
function sourceTree(): string[] {
  const root = path.join(__dirname, '..');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (['node_modules', 'cdk.out'].includes(e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        files.push(`${path.relative(root, p)} ${st.size} ${st.mtimeMs}`);
      }
    }
  };
  walk(root);
  return files.sort();
}

test('synth writes nothing into the source tree, in any mode', () => {
  const before = sourceTree();
  for (const context of [{}, { mode: 'vpc', dbAuth: 'secret' }]) synth(context);
  expect(sourceTree()).toEqual(before);
});

test('the CA layer holds the RDS bundle, staged by CDK under the cloud assembly', () => {
  const before = sourceTree();
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-layer-'));
  const app = new App({ outdir });
  new lambda.LayerVersion(new Stack(app, 'S'), 'Ca', { code: caBundleCode('rds-ca-bundle.pem') });
  app.synth();
  const staged = fs
    .readdirSync(outdir)
    .map((d) => path.join(outdir, d, 'rds-ca-bundle.pem'))
    .filter((f) => fs.existsSync(f));
  expect(staged).toHaveLength(1);
  expect(fs.readFileSync(staged[0], 'utf8')).toBe(rdsCaBundle());
  // Every region's CAs: RDS signs with several per region.
  expect(rdsCaBundle().match(/BEGIN CERTIFICATE/g)?.length).toBeGreaterThan(100);
  expect(sourceTree()).toEqual(before);
});

// A resource whose logical id changes is replaced on the next update: for the vpc mode's
// groups that means new groups and new function ENIs.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html
test('the vpc mode keeps its groups and endpoint under the logical ids existing stacks hold', () => {
  const s = synth({ mode: 'vpc' });
  const groups = idsOf(s.json, 'AWS::EC2::SecurityGroup').map((id) => id.replace(/[0-9A-F]{8}$/, ''));
  expect(groups).toEqual(expect.arrayContaining(['IngestGroup', 'MigrateGroup', 'SecretsManagerEndpointGroup']));
  // Two endpoints with private DNS for one service cannot coexist in a VPC ("private-dns-enabled
  // cannot be set because there is already a conflicting DNS domain"), and CloudFormation
  // creates a replacement before deleting the old one: a new id would fail the update.
  // https://repost.aws/knowledge-center/vpc-interface-endpoint-domain-conflict
  expect(idsOf(s.json, 'AWS::EC2::VPCEndpoint')).toEqual(['NetworkVpcSecretsManager9D032D69']);
});

// The database's parts are constructs of their own (lib/database-*.ts, ca-layer.ts), created
// under the ids they had in one constructor: a new id would replace the instance (a new, empty
// database), its groups or its secrets on the next update. The ids hash the construct path.
// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html
test.each([
  [
    { mode: 'public', dbAuth: 'secret' },
    ['DatabaseSyncedGroup1D160BFB1', 'DatabaseSyncedGroup2D8722715', 'DatabaseSyncedGroup39EB610F6'],
  ],
  [{ mode: 'vpc', dbAuth: 'secret' }, ['DatabasePrivateGroup17EEAEAC']],
])('the database keeps the logical ids existing stacks hold (%j)', (context, groups) => {
  const s = synth(context);
  const ids = (type: string) => idsOf(s.json, type).filter((id) => id.includes('Database'));
  expect(ids('AWS::RDS::DBInstance')).toEqual(['DatabaseInstanceAA8A5FDE']);
  expect(ids('AWS::RDS::DBParameterGroup')).toEqual(['DatabaseParametersB8AC9B07']);
  expect(ids('AWS::RDS::DBSubnetGroup')).toEqual(['DatabaseInstanceSubnetGroupDE121BB6']);
  expect(ids('AWS::EC2::SecurityGroup')).toEqual(groups);
  expect(ids('AWS::SecretsManager::Secret').sort()).toEqual([
    'DatabaseIngestSecretEEB5FBFB',
    // The verify reader's (dbAuth=secret), beside ingest-fn's.
    'DatabaseReaderSecretE0C0B0A4',
    'LambdaRdsIngestDatabaseInstanceSecret9558AF293fdaad7efa858a3daf9490cf0a702aeb',
  ]);
  expect(ids('AWS::SecretsManager::SecretTargetAttachment')).toEqual(['DatabaseInstanceSecretAttachmentFCA06D38']);
  expect(ids('AWS::Lambda::LayerVersion')).toEqual(['DatabaseCaBundle3E38273E']);
});
