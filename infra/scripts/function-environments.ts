// Writes the environment of every Rust function of the stack, in all four modes (public/vpc x
// iam/secret), for the Rust test that feeds each to its binary's own configuration parser
// (ingest-fn/tests/infra_environment.rs, sg-sync-fn/tests/infra_environment.rs, migrate-fn's
// tests for the binary `migrate`, expire-fn's for `ingest-expire`): a variable renamed on one
// side fails a test, not a deploy. Every stack is synthesized with retentionDays, so that
// ingest-expire is in each and migrate creates its account; two of them with archive=true.
//
// Usage: tsx scripts/function-environments.ts FILE
//
// FILE gets {"region", "account", "stacks": [{"mode", "dbAuth", "retentionDays", "archive",
// "functions": {BINARY: {"environment", "layerRoot"?}}}]}. CloudFormation references in a value become literals of the
// shape they resolve to (a hostname, an ARN, a group id); a reference of any other kind fails
// here, so new wiring is given a shape on purpose. Each function's layers are written out under
// `layerRoot`, which stands for /opt, where Lambda extracts them.
// https://docs.aws.amazon.com/lambda/latest/dg/chapter-layers.html
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CfnElement, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildApp } from '../lib/app';
import { IngestStack } from '../lib/ingest-stack';

const REGION = 'ap-northeast-1';
const ACCOUNT = '123456789012';
/** The retention every stack is synthesized with (RETENTION_DAYS). */
const RETENTION_DAYS = 30;
const MODES = [
  { mode: 'public', dbAuth: 'iam', archive: true },
  { mode: 'public', dbAuth: 'secret', archive: false },
  { mode: 'vpc', dbAuth: 'iam', archive: false },
  { mode: 'vpc', dbAuth: 'secret', archive: true },
] as const;

type Resources = Record<string, { Type: string; Properties?: any }>;

/** A short stable hex string derived from a logical id, for literals that must differ. */
function hex(id: string, length: number): string {
  return crypto.createHash('sha256').update(id).digest('hex').slice(0, length);
}

/** The literal a CloudFormation value resolves to at deploy time, in the shape AWS gives it. */
function literal(value: unknown, resources: Resources, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  const v = value as Record<string, any>;
  if (v && typeof v.Ref === 'string') return ref(v.Ref, resources, where);
  if (v && Array.isArray(v['Fn::GetAtt'])) return getAtt(v['Fn::GetAtt'][0], v['Fn::GetAtt'][1], resources, where);
  if (v && Array.isArray(v['Fn::Join'])) {
    const [separator, parts] = v['Fn::Join'];
    return (parts as unknown[]).map((p) => literal(p, resources, where)).join(separator);
  }
  throw new Error(`${where}: no literal for ${JSON.stringify(value)}`);
}

function ref(id: string, resources: Resources, where: string): string {
  const pseudo: Record<string, string> = {
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (id in pseudo) return pseudo[id];
  const type = resources[id]?.Type;
  switch (type) {
    // Ref of a secret, and of the attachment that binds it to the instance, is the secret's ARN
    // (the name, a hyphen and six random characters).
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html
    case 'AWS::SecretsManager::Secret':
    case 'AWS::SecretsManager::SecretTargetAttachment':
      return `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-${hex(id, 6)}`;
    // Ref of a security group in a VPC is its id.
    case 'AWS::EC2::SecurityGroup':
      return `sg-${hex(id, 17)}`;
    // Ref of a bucket is its name; CloudFormation generates one from the stack name and the
    // logical id, in lower case, with a random suffix.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucket.html
    case 'AWS::S3::Bucket':
      return `lambdardsingest-${id.toLowerCase().slice(0, 30)}-${hex(id, 12)}`;
    default:
      throw new Error(`${where}: no literal for Ref ${id} (${type ?? 'not in the template'})`);
  }
}

function getAtt(id: string, attribute: string, resources: Resources, where: string): string {
  const type = resources[id]?.Type;
  if (type === 'AWS::RDS::DBInstance' && attribute === 'Endpoint.Address') {
    return `${id.toLowerCase()}.c${hex(id, 11)}.${REGION}.rds.amazonaws.com`;
  }
  if (type === 'AWS::RDS::DBInstance' && attribute === 'Endpoint.Port') return '3306';
  if (type === 'AWS::EC2::SecurityGroup' && attribute === 'GroupId') return `sg-${hex(id, 17)}`;
  throw new Error(`${where}: no literal for Fn::GetAtt ${id}.${attribute} (${type ?? 'not in the template'})`);
}

interface FunctionEnvironment {
  readonly environment: Record<string, string>;
  /** Stands for /opt: the function's layers, extracted. */
  readonly layerRoot?: string;
}

function environments(
  stack: IngestStack,
  resources: Resources,
  layerRoot: string,
): Record<string, FunctionEnvironment> {
  const functions: Record<string, lambda.Function> = {
    'ingest-fn': stack.ingest.function,
    migrate: stack.migrations.function,
    ...(stack.sync && { 'sg-sync-fn': stack.sync.function }),
    ...(stack.retention && { 'ingest-expire': stack.retention.function }),
  };
  // The layers this script knows the contents of.
  const caLayer = stack.database.caLayer;
  const layers = new Map([[Stack.of(stack).getLogicalId(caLayer.node.defaultChild as CfnElement), caLayer]]);
  const out: Record<string, FunctionEnvironment> = {};
  for (const [binary, fn] of Object.entries(functions)) {
    const id = stack.getLogicalId(fn.node.defaultChild as CfnElement);
    const properties = resources[id]?.Properties;
    if (!properties) throw new Error(`${binary}: ${id} is not in the template`);
    const environment: Record<string, string> = {};
    for (const [name, value] of Object.entries(properties.Environment?.Variables ?? {})) {
      environment[name] = literal(value, resources, `${binary} ${name}`);
    }
    const layerRefs: unknown[] = properties.Layers ?? [];
    for (const layerRef of layerRefs) {
      const layerId = (layerRef as { Ref?: string }).Ref;
      const layer = layerId === undefined ? undefined : layers.get(layerId);
      if (!layer) throw new Error(`${binary}: the contents of layer ${JSON.stringify(layerRef)} are unknown here`);
      const file = path.join(layerRoot, path.relative('/opt', layer.path));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, layer.bundle);
    }
    out[binary] = { environment, ...(layerRefs.length > 0 && { layerRoot }) };
  }
  return out;
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: function-environments.ts FILE');
    process.exit(2);
  }
  const target = path.resolve(file);
  const cdkJsonContext = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;
  const stacks = MODES.map(({ mode, dbAuth, archive }) => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), `function-environments-${mode}-${dbAuth}-`));
    try {
      const { app, stack } = buildApp({
        skipBundling: true,
        baseContext: cdkJsonContext,
        context: { region: REGION, account: ACCOUNT, mode, dbAuth, retentionDays: String(RETENTION_DAYS), archive: String(archive) },
        outdir,
      });
      const template = app.synth().getStackByName(stack.stackName).template;
      const layers = `${path.basename(target, '.json')}.layers`;
      const layerRoot = path.join(path.dirname(target), layers, `${mode}-${dbAuth}`);
      const functions = environments(stack, template.Resources, layerRoot);
      return { mode, dbAuth, retentionDays: RETENTION_DAYS, archive, functions };
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, JSON.stringify({ region: REGION, account: ACCOUNT, stacks }, null, 2) + '\n');
  const summary = stacks.map((s) => `${s.mode}/${s.dbAuth} ${Object.keys(s.functions).join(' ')}`);
  console.log(`${target}: ${summary.join('; ')}`);
}

main();
