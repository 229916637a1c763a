// migrate's function: where it is built from, the settings it gets in every mode, and how it logs
// in as the read-only account its verify requests use: an IAM token (dbAuth=iam, the one database
// login IAM lets it make) or the password of a secret only it may read (dbAuth=secret).
import * as fs from 'fs';
import * as path from 'path';
import { READER_IAM_DB_USER, READER_PASSWORD_DB_USER } from '../lib/database-accounts';
import { MIGRATE_BUILD } from '../lib/migrations';
import { WORKSPACE_MANIFEST } from '../lib/rust-function';
import { AssetStaging } from 'aws-cdk-lib';
import { ALL_MODES, Synthesized, findOne, functionNamed, idsOf, referencedIds, statementsOf, synthEveryMode } from './helpers';

const MODES: [string, Record<string, string>][] = [
  ...ALL_MODES,
  ['aurora, public, iam', { engine: 'aurora-mysql' }],
  ['vpc, iam, proxy', { mode: 'vpc', proxy: 'true' }],
];
const { synthesized, everyMode } = synthEveryMode(MODES);

const envOf = (s: Synthesized) => functionNamed(s.json, 'migrate')[1].Properties.Environment.Variables;
const connectsOf = (s: Synthesized, binary: string) =>
  statementsOf(s.json, functionNamed(s.json, binary)[1]).filter((st) => [st.Action].flat().includes('rds-db:connect'));
const secretOf = (s: Synthesized, username: string) =>
  findOne(s.json, 'AWS::SecretsManager::Secret', (p) =>
    p.GenerateSecretString?.SecretStringTemplate === JSON.stringify({ username }),
  );
/** Every resource `binary`'s role is allowed anything on, with the actions. */
const grantsOf = (s: Synthesized, binary: string) =>
  statementsOf(s.json, functionNamed(s.json, binary)[1]).map((st) => ({
    actions: [st.Action].flat().sort(),
    resources: [st.Resource].flat(),
  }));

/** The database whose resource id an rds-db:connect ARN names: the instance, or the cluster. */
function databaseOf(s: Synthesized): [string, string] {
  const cluster = Object.entries(s.json.Resources).find(([, r]) => r.Type === 'AWS::RDS::DBCluster');
  if (cluster) return [cluster[0], 'DBClusterResourceId'];
  return [findOne(s.json, 'AWS::RDS::DBInstance', () => true)[0], 'DbiResourceId'];
}

describe.each(everyMode)('%s', (mode, s) => {
  const iam = !mode.includes('secret');

  // The names migrate reads (migrate-fn/src/config.rs), spelled out here so a rename on either
  // side is a decision; scripts/function-environments.ts hands this environment to the crates'
  // infra_environment tests. The admin's secret is DB_ADMIN_SECRET_ARN: DB_SECRET_ARN is
  // ingest-fn's own account's.
  test('environment: the admin secret, the accounts it creates, the reader, and nothing of ingest-fn\'s', () => {
    const env = envOf(s);
    const [attachment] = findOne(s.json, 'AWS::SecretsManager::SecretTargetAttachment', () => true);
    expect(env.DB_ADMIN_SECRET_ARN).toEqual({ Ref: attachment });
    expect(env.DB_SECRET_ARN).toBeUndefined();
    expect(READER_IAM_DB_USER).toBe('ingest_reader');
    expect(READER_PASSWORD_DB_USER).toBe('ingest_reader_pw');
    // migrate-fn refuses both of a role's settings at once (config.rs, Account::from_lookup).
    const accounts = iam ? ['DB_IAM_USER', 'DB_READER_IAM_USER'] : ['DB_INGEST_SECRET_ARN', 'DB_READER_SECRET_ARN'];
    const shared = ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_TLS', 'DB_CA_BUNDLE', 'DB_POOL_MAX'];
    expect(Object.keys(env).sort()).toEqual([...shared, 'DB_ADMIN_SECRET_ARN', ...accounts].sort());
    // The reader is an account of its own, never ingest-fn's, which may write.
    if (iam) {
      expect(env.DB_READER_IAM_USER).toBe('ingest_reader');
      expect(env.DB_READER_IAM_USER).not.toEqual(env.DB_IAM_USER);
    } else {
      const [readerSecret] = secretOf(s, 'ingest_reader_pw');
      expect(env.DB_READER_SECRET_ARN).toEqual({ Ref: readerSecret });
      expect(env.DB_READER_SECRET_ARN).not.toEqual(env.DB_INGEST_SECRET_ARN);
    }
    // An IAM token needs TLS to travel (config.rs refuses an IAM reader without it).
    expect(env.DB_TLS).toBe('verify-identity');
  });

  // An IAM token logs in only a caller allowed rds-db:connect on
  // arn:aws:rds-db:region:account:dbuser:<resource id>/<user>: migrate, which logs in as the admin
  // with the secret, needs it for the reader alone, and only when the reader is an IAM account.
  // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
  test('IAM: rds-db:connect as ingest_reader on the database itself with dbAuth=iam, nothing with dbAuth=secret', () => {
    const connects = connectsOf(s, 'migrate');
    if (!iam) {
      expect(connects).toEqual([]);
      return;
    }
    expect(connects).toHaveLength(1);
    const [statement] = connects;
    expect(statement.Effect).toBe('Allow');
    expect(statement.Action).toBe('rds-db:connect');
    // One ARN, the database's own resource (not the proxy's), the reader's user name at its end.
    const [dbId, attribute] = databaseOf(s);
    const parts = statement.Resource['Fn::Join'][1];
    expect(parts).toContainEqual({ 'Fn::GetAtt': [dbId, attribute] });
    expect(parts[parts.length - 1]).toBe('/ingest_reader');
    expect(JSON.stringify(parts)).toContain(':dbuser:');
    expect(referencedIds(statement.Resource)).toEqual([dbId]);
  });

  test('IAM: ingest-fn may not log in as the reader', () => {
    const resources = JSON.stringify(connectsOf(s, 'ingest-fn').map((st) => st.Resource));
    expect(resources).not.toContain(READER_IAM_DB_USER);
    expect(resources).not.toContain(READER_PASSWORD_DB_USER);
  });

  // The reader's password account (migrate-fn/src/accounts.rs, PasswordAccount::new): a secret of
  // its own, generated like ingest-fn's, so migrate's checks (16 to 128 printable characters, no
  // quotes, backslashes or spaces) pass, and kept or deleted with the database as ingest-fn's is.
  test('secret: the reader\'s own secret with dbAuth=secret, generated and kept like ingest-fn\'s; none with dbAuth=iam', () => {
    const secrets = Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::SecretsManager::Secret');
    const templates = secrets.map((r) => r.Properties.GenerateSecretString?.SecretStringTemplate);
    if (iam) {
      expect(templates.filter((t) => (t ?? '').includes('ingest_reader'))).toEqual([]);
      return;
    }
    const [, reader] = secretOf(s, 'ingest_reader_pw');
    const [, ingest] = secretOf(s, 'ingest_fn_pw');
    expect(reader.Properties.GenerateSecretString).toEqual({
      ...ingest.Properties.GenerateSecretString,
      SecretStringTemplate: '{"username":"ingest_reader_pw"}',
    });
    const generated = reader.Properties.GenerateSecretString;
    expect(generated.GenerateStringKey).toBe('password');
    expect(generated.PasswordLength).toBeGreaterThanOrEqual(16);
    expect(generated.PasswordLength).toBeLessThanOrEqual(128);
    for (const c of ` '"\\\``) expect(generated.ExcludeCharacters).toContain(c);
    expect(reader.Properties.Description).toBe('Password of the MySQL account ingest_reader_pw (SELECT on events) for migrate\'s verify requests');
    // The same lifetime: retained with a protected database, as is ingest-fn's.
    expect([reader.DeletionPolicy, reader.UpdateReplacePolicy]).toEqual([ingest.DeletionPolicy, ingest.UpdateReplacePolicy]);
    expect(reader.DeletionPolicy).toBe('Retain');
    // Like ingest-fn's: no rotation schedule, the AWS-managed key.
    expect(reader.Properties.KmsKeyId).toBeUndefined();
    expect(ingest.Properties.KmsKeyId).toBeUndefined();
    expect(Object.values(s.json.Resources).filter((r) => r.Type === 'AWS::SecretsManager::RotationSchedule')).toEqual([]);
  });

  // migrate calls GetSecretValue on the reader's secret and nothing else (migrate-fn/src/connect.rs);
  // under the AWS-managed key that needs no kms:Decrypt.
  // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
  test('secret: migrate may GetSecretValue on the reader\'s secret and nothing more, ingest-fn nothing at all', () => {
    if (iam) {
      expect(JSON.stringify(grantsOf(s, 'migrate'))).not.toContain('ReaderSecret');
      return;
    }
    const [readerSecret] = secretOf(s, 'ingest_reader_pw');
    const onReader = (binary: string) =>
      grantsOf(s, binary).filter((g) => referencedIds(g.resources).includes(readerSecret));
    expect(onReader('migrate')).toEqual([{ actions: ['secretsmanager:GetSecretValue'], resources: [{ Ref: readerSecret }] }]);
    expect(onReader('ingest-fn')).toEqual([]);
    const ingestFn = functionNamed(s.json, 'ingest-fn')[1];
    expect(referencedIds(ingestFn.Properties.Environment)).not.toContain(readerSecret);
    // Nothing else in the stack may read it either (the proxy reads ingest-fn's secret alone).
    const readers = idsOf(s.json, 'AWS::IAM::Policy').filter((id) =>
      referencedIds(s.json.Resources[id].Properties.PolicyDocument).includes(readerSecret),
    );
    expect(readers).toHaveLength(1);
  });
});

// cargo-lambda-cdk builds `binaryName` from the crate of `manifestPath` (its folder is the asset's
// source); a crate or binary renamed on one side fails here, not in the bundling synth.
describe('build', () => {
  test('migrate is the binary `migrate` of the crate migrate-fn, at the repository\'s root', () => {
    const root = path.dirname(WORKSPACE_MANIFEST);
    expect(MIGRATE_BUILD).toEqual({ manifestPath: path.join(root, 'migrate-fn', 'Cargo.toml'), binaryName: 'migrate' });
    const manifest = fs.readFileSync(MIGRATE_BUILD.manifestPath, 'utf8');
    expect(manifest).toMatch(/^\[package\][^[]*^name\s*=\s*"migrate-fn"\s*$/m);
    // Cargo's binary `migrate`: a [[bin]] of that name, or src/bin/migrate.rs found by convention.
    // https://doc.rust-lang.org/cargo/reference/cargo-targets.html#target-auto-discovery
    const declared = /^\[\[bin\]\][^[]*^name\s*=\s*"migrate"\s*$/m.test(manifest);
    const discovered = fs.existsSync(path.join(root, 'migrate-fn', 'src', 'bin', 'migrate.rs'));
    expect(declared || discovered).toBe(true);
    // A member of the workspace, so it builds with the workspace's lock file and release profile.
    const workspace = fs.readFileSync(WORKSPACE_MANIFEST, 'utf8');
    expect(workspace).toMatch(/^members\s*=\s*\[[^\]]*"migrate-fn"/m);
  });

  test('the asset is staged from migrate-fn; the other functions\' from the workspace', () => {
    const stack = (synthesized.get('public, iam') as Synthesized).stack;
    const sourceOf = (fn: { node: { findChild(id: string): any } }) =>
      (fn.node.findChild('Code').node.findChild('Stage') as AssetStaging).sourcePath;
    expect(sourceOf(stack.migrations.function)).toBe(path.dirname(MIGRATE_BUILD.manifestPath));
    expect(sourceOf(stack.ingest.function)).toBe(path.dirname(WORKSPACE_MANIFEST));
    expect(sourceOf(stack.sync!.function)).toBe(path.dirname(WORKSPACE_MANIFEST));
  });
});
