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
