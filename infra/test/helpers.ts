import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';
import { IngestStack } from '../lib/ingest-stack';

/** cdk.json's context: only the CLI reads it, so tests pass it in to build the same app. */
const cdkJsonContext = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;

export interface Synthesized {
  readonly app: App;
  readonly stack: IngestStack;
  readonly template: Template;
  /** The cloud assembly folder, with cdk-nag's validation-report.json. */
  readonly outdir: string;
  /** The raw template, for properties no matcher expresses. */
  readonly json: { Resources: Record<string, { Type: string; Properties?: any; DependsOn?: string[] }> } & Record<string, any>;
}

/** The app as `cdk synth` builds it, without bundling, in ap-northeast-1 unless told; `today`
 *  dates the engine support check (the real date by default). A `region` of undefined synthesizes
 *  an environment-agnostic stack. */
export function synth(context: Record<string, unknown> = {}, options: { today?: Date } = {}): Synthesized {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'infra-test-'));
  const merged: Record<string, unknown> = { region: 'ap-northeast-1', account: '123456789012', ...context };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const { app, stack } = buildApp({
    skipBundling: true,
    baseContext: cdkJsonContext,
    context: merged,
    outdir,
    today: options.today,
  });
  // Runs cdk-nag too: an unacknowledged finding throws here.
  app.synth();
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir, json: template.toJSON() as Synthesized['json'] };
}

/** The logical ids of the resources of one type. */
/** The four deployable modes, named as the tests print them, with their context. */
export const ALL_MODES: [string, Record<string, string>][] = [
  ['public, iam', {}],
  ['public, secret', { dbAuth: 'secret' }],
  ['vpc, iam', { mode: 'vpc' }],
  ['vpc, secret', { mode: 'vpc', dbAuth: 'secret' }],
];

/** One synth per mode, by name, and as `[name, synthesized]` rows for `test.each`. */
export function synthEveryMode(modes: [string, Record<string, string>][]) {
  const synthesized = new Map(modes.map(([name, context]) => [name, synth(context)]));
  const everyMode = modes.map(([name]) => [name, synthesized.get(name) as Synthesized] as const);
  return { synthesized, everyMode };
}

export function idsOf(json: Synthesized['json'], type: string): string[] {
  return Object.entries(json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/** The one resource of a type whose properties match a predicate. */
export function findOne(json: Synthesized['json'], type: string, pick: (p: any) => boolean): [string, any] {
  const found = Object.entries(json.Resources).filter(([, r]) => r.Type === type && pick(r.Properties ?? {}));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return [found[0][0], found[0][1]];
}

export function functionNamed(json: Synthesized['json'], binary: string): [string, any] {
  return findOne(json, 'AWS::Lambda::Function', (p) => (p.Description ?? '').includes(DESCRIPTIONS[binary]));
}

const DESCRIPTIONS: Record<string, string> = {
  'ingest-fn': 'Writes events',
  'sg-sync-fn': 'Keeps the database security groups',
  migrate: 'Applies the sqlx migrations',
  'ingest-expire': 'Deletes events older than the retention',
};

/** Every CIDR any security group rule of the template names, ingress and egress. */
export function allRuleCidrs(json: Synthesized['json']): string[] {
  const cidrs: string[] = [];
  const collect = (rule: any) => {
    for (const key of ['CidrIp', 'CidrIpv6']) if (rule?.[key] !== undefined) cidrs.push(String(rule[key]));
  };
  for (const r of Object.values(json.Resources)) {
    if (r.Type === 'AWS::EC2::SecurityGroup') {
      for (const rule of [...(r.Properties?.SecurityGroupIngress ?? []), ...(r.Properties?.SecurityGroupEgress ?? [])]) {
        collect(rule);
      }
    }
    if (r.Type === 'AWS::EC2::SecurityGroupIngress' || r.Type === 'AWS::EC2::SecurityGroupEgress') {
      collect(r.Properties);
    }
  }
  return cidrs;
}

/** The deploy trigger that invokes a function (through its current version). */
export function triggerOf(json: Synthesized['json'], functionId: string): [string, any] {
  const [versionId] = findOne(json, 'AWS::Lambda::Version', (p) => p.FunctionName?.Ref === functionId);
  return findOne(json, 'Custom::Trigger', (p) => p.HandlerArn?.Ref === versionId);
}

/** The IAM statements attached to a function's role. */
export function statementsOf(json: Synthesized['json'], fn: any): any[] {
  const role = fn.Properties.Role['Fn::GetAtt'][0];
  return idsOf(json, 'AWS::IAM::Policy')
    .map((id) => json.Resources[id].Properties)
    .filter((p) => (p.Roles ?? []).some((r: any) => r.Ref === role))
    .flatMap((p) => p.PolicyDocument.Statement);
}

/** cdk-nag's report of one synth. */
export function nagReport(s: Synthesized): any {
  const report = JSON.parse(fs.readFileSync(path.join(s.outdir, 'validation-report.json'), 'utf8'));
  return report.pluginReports.find((r: any) => r.pluginName === 'AwsSolutions');
}

/** The logical ids a value references through Ref or Fn::GetAtt (pseudo parameters left out). */
export function referencedIds(value: unknown): string[] {
  const found: string[] = [];
  const walk = (v: any) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v === null || typeof v !== 'object') return;
    if (typeof v.Ref === 'string' && !v.Ref.startsWith('AWS::')) found.push(v.Ref);
    if (Array.isArray(v['Fn::GetAtt'])) found.push(v['Fn::GetAtt'][0]);
    Object.values(v).forEach(walk);
  };
  walk(value);
  return found;
}

/** Whether CloudFormation creates `to` before `from`: a path of DependsOn, Ref or GetAtt. */
export function reaches(json: Synthesized['json'], from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (id === to && id !== from) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    const r = json.Resources[id];
    if (!r) continue;
    stack.push(...[r.DependsOn ?? []].flat(), ...referencedIds(r.Properties));
  }
  return false;
}
