import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfig } from './config';
import { IngestStack } from './ingest-stack';

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
  const get = (key: string) => app.node.tryGetContext(key);
  const region: string | undefined = get('region') ?? process.env.CDK_DEFAULT_REGION;
  // The region decides defaults and checks (opt-in regions, the CA bundle's roots).
  const config = loadConfig(get, region);
  const stack = new IngestStack(app, get('stackName') ?? 'LambdaRdsIngest', {
    config,
    env: { account: get('account') ?? process.env.CDK_DEFAULT_ACCOUNT, region },
    description: 'Events from a public Lambda into RDS MySQL fenced to the EC2 ranges of its region',
  });
  if (options.checks ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
