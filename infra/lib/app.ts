import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from './config';
import { checkContextKeys } from './context-keys';
import { IngestStack } from './ingest-stack';

/** The project's cdk.json: the context keys it declares pass the unknown-key check. */
export const CDK_JSON = path.join(__dirname, '..', 'cdk.json');

/** The user's own cdk.json, whose context the CLI merges in too. */
export const USER_CDK_JSON = path.join(os.homedir(), '.cdk.json');

/** The context keys a cdk.json declares (none when it has no context, or, for `optional`, no
 *  file). */
export function cdkJsonContextKeys(file: string = CDK_JSON, optional = false): string[] {
  if (optional && !fs.existsSync(file)) return [];
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return Object.keys(json.context ?? {});
}

export interface BuildOptions {
  /** Synthesize without building the Rust functions (SKIP_BUNDLING=1). */
  readonly skipBundling?: boolean;
  /** Context that wins over cdk.json and `-c` (tests). */
  readonly context?: Record<string, unknown>;
  /** Context below `-c` (tests pass cdk.json's, which only the CLI reads). */
  readonly baseContext?: Record<string, unknown>;
  readonly outdir?: string;
  /** Apply cdk-nag's AwsSolutions checks (default true). */
  readonly checks?: boolean;
  /** The date the engine support check uses (tests); today by default. */
  readonly today?: Date;
}

/** The app as `cdk synth` builds it: the stack from validated context, checked by cdk-nag's
 *  AwsSolutions rules. */
export function buildApp(options: BuildOptions = {}): { app: App; stack: IngestStack } {
  const postCliContext: Record<string, unknown> = { ...options.context };
  if (options.skipBundling) postCliContext['aws:cdk:bundling-stacks'] = [];
  const props: AppProps = {
    postCliContext,
    context: options.baseContext, ...(options.outdir && { outdir: options.outdir }) };
  const app = new App(props);
  // Every key, from -c, cdk.json, cdk.context.json or the tests, before any is read: a setting
  // misspelled would otherwise deploy its default in silence.
  checkContextKeys(app.node.getAllContext(), [...cdkJsonContextKeys(), ...cdkJsonContextKeys(USER_CDK_JSON, true)]);
  const get = (key: string) => app.node.tryGetContext(key);
  const region: string | undefined = get('region') ?? process.env.CDK_DEFAULT_REGION;
  // The region decides defaults and checks (opt-in regions, the CA bundle's roots, Function URLs,
  // RDS Proxy).
  const config = loadConfig(get, region, options.today);
  const stack = new IngestStack(app, get('stackName') ?? 'LambdaRdsIngest', {
    config,
    env: { account: get('account') ?? process.env.CDK_DEFAULT_ACCOUNT, region },
    description: 'Events from a public Lambda into RDS MySQL fenced to the EC2 ranges of its region',
  });
  if (options.checks ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
