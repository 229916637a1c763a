import * as path from 'path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { RustFunction, RustFunctionProps } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { Arch } from './config';

/** The repository's root folder, which holds the workspace's Cargo.toml and its crates. */
const REPOSITORY = path.join(__dirname, '..', '..');

/** The workspace's Cargo.toml: every function is a binary of this workspace. */
export const WORKSPACE_MANIFEST = path.join(REPOSITORY, 'Cargo.toml');

/** The Cargo.toml of the workspace's crate in folder `crate` at the repository's root. */
export function crateManifest(crate: string): string {
  return path.join(REPOSITORY, crate, 'Cargo.toml');
}

export interface WorkspaceFunctionProps extends Omit<RustFunctionProps, 'manifestPath' | 'architecture'> {
  readonly binaryName: string;
  readonly architecture: Arch;
  /** The Cargo.toml cargo-lambda builds `binaryName` from: one crate's (crateManifest), whose
   *  folder is then the asset's source, or the workspace's (the default), where the binary name
   *  picks the crate. cargo-lambda-cdk reads the file at synth, with SKIP_BUNDLING=1 too. */
  readonly manifestPath?: string;
}

/** A binary of this workspace as a `provided.al2023` function, built by cargo-lambda for the
 *  chosen architecture, with a log group of its own that the stack owns. */
export function workspaceFunction(scope: Construct, id: string, props: WorkspaceFunctionProps): RustFunction {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const { architecture, manifestPath, ...rest } = props;
  return new RustFunction(scope, id, {
    ...rest,
    manifestPath: manifestPath ?? WORKSPACE_MANIFEST,
    runtime: 'provided.al2023',
    architecture: architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
    logGroup,
    // The binaries log JSON lines themselves; Lambda's level filter reaches them through
    // AWS_LAMBDA_LOG_LEVEL.
    loggingFormat: lambda.LoggingFormat.JSON,
    applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
    systemLogLevelV2: lambda.SystemLogLevel.INFO,
  });
}
