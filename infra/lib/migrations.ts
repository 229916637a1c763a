import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as triggers from 'aws-cdk-lib/triggers';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { Database } from './database';
import { EXPIRE_IAM_DB_USER, IAM_DB_USER, READER_IAM_DB_USER } from './database-accounts';
import { Placement, placedIn } from './network';
import { crateManifest, workspaceFunction } from './rust-function';

/** migrate's own limit: the schema, the accounts, and up to 60 s waiting for IAM to settle. */
export const MIGRATE_TIMEOUT = Duration.minutes(5);
/** The trigger waits for migrate's answer longer than migrate may run, so a slow migration
 *  fails with migrate's own error rather than the trigger's socket timeout. */
export const MIGRATE_TRIGGER_TIMEOUT = MIGRATE_TIMEOUT.plus(Duration.minutes(1));

/** Where cargo-lambda builds migrate from: the binary `migrate` of the workspace's crate
 *  `migrate-fn`, beside the other functions' crates. */
export const MIGRATE_BUILD = { manifestPath: crateManifest('migrate-fn'), binaryName: 'migrate' } as const;

export interface MigrationsProps {
  readonly database: Database;
  readonly config: StackConfig;
  /** Inside the VPC (vpc mode); outside any VPC when unset. */
  readonly placement?: Placement;
}

/** The `migrate` binary as a Lambda, run by a trigger after the database exists (and, in the
 *  public mode, after the first sync opened it) and before ingest-fn takes traffic. It logs in
 *  with the generated admin secret (DB_ADMIN_SECRET_ARN) and creates ingest-fn's least-privilege
 *  MySQL account, an IAM-token account (dbAuth=iam, DB_IAM_USER) or a password account from its
 *  own secret (dbAuth=secret, DB_INGEST_SECRET_ARN), and the read-only account (SELECT on the
 *  events table) that it answers `ingest-load --verify-function` through, made the same way: an
 *  IAM-token account (dbAuth=iam, DB_READER_IAM_USER) or a password account from a secret only
 *  migrate reads (dbAuth=secret, DB_READER_SECRET_ARN). */
export class Migrations extends Construct {
  readonly function: lambda.Function;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    const { database, config, placement } = props;
    const environment = {
      ...database.environment(),
      // The admin's, distinct from ingest-fn's own DB_SECRET_ARN (dbAuth=secret).
      DB_ADMIN_SECRET_ARN: database.secret.secretArn,
      ...(config.dbAuth === 'iam' && { DB_IAM_USER: IAM_DB_USER }),
      ...(database.ingestSecret && { DB_INGEST_SECRET_ARN: database.ingestSecret.secretArn }),
      // migrate-fn reads one of the two, never both (migrate-fn/src/config.rs).
      ...(config.dbAuth === 'iam' && { DB_READER_IAM_USER: READER_IAM_DB_USER }),
      ...(database.readerSecret && { DB_READER_SECRET_ARN: database.readerSecret.secretArn }),
      // ingest-expire's SELECT/DELETE account, made the same way, only when retentionDays is set.
      ...(config.retention && config.dbAuth === 'iam' && { DB_EXPIRE_IAM_USER: EXPIRE_IAM_DB_USER }),
      ...(database.expireSecret && { DB_EXPIRE_SECRET_ARN: database.expireSecret.secretArn }),
    };
    this.function = workspaceFunction(this, 'Function', {
      ...MIGRATE_BUILD,
      architecture: config.architecture,
      description: 'Applies the sqlx migrations to the events database',
      memorySize: 256,
      timeout: MIGRATE_TIMEOUT,
      // No reserved concurrency: Lambda keeps 100 of the account's quota unreserved, so a new
      // account (quota 10) could not reserve even 1 and the deploy would fail. The trigger is
      // the only caller, and sqlx serialises concurrent runs with a database lock.
      layers: [database.caLayer],
      environment,
      ...placedIn(placement),
      // The version the trigger runs names the database it migrates. A change CloudFormation makes
      // by replacing the database (a new engine, storage encryption, subnet group, ...) gives it a
      // new resource id, and a version's Description is "Update requires: Replacement": a new
      // version is published from the function as updated with the new endpoint, the trigger's
      // HandlerArn changes, and migrate runs against the new database before ingest-fn (which
      // waits for the trigger) takes its new settings. Without it the version stays, its snapshot
      // still names the old endpoint, and nothing migrates the new, empty database.
      // https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-version.html#cfn-lambda-version-description
      currentVersionOptions: { description: `migrate for database ${database.server.identity}` },
    });
    database.secret.grantRead(this.function);
    database.ingestSecret?.grantRead(this.function);
    if (config.dbAuth === 'iam') {
      // A verify request logs in as the reader with an IAM token, which RDS accepts only from a
      // caller allowed rds-db:connect on that one database user; with dbAuth=secret the reader
      // logs in with a password and needs no IAM permission.
      // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
      database.server.grantConnect(this.function, READER_IAM_DB_USER);
    }
    // migrate only calls GetSecretValue on the reader's secret (to create the account, and on
    // each verify request to log in) and on ingest-expire's (to create its account). The secrets
    // are under the AWS-managed key, for which GetSecretValue needs no kms:Decrypt.
    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
    const passwordsOnly = [database.readerSecret, database.expireSecret].filter((s) => s !== undefined);
    if (passwordsOnly.length > 0) {
      iam.Grant.addToPrincipal({
        grantee: this.function,
        actions: ['secretsmanager:GetSecretValue'],
        resourceArns: passwordsOnly.map((s) => s.secretArn),
      });
    }

    // The trigger invokes migrate's currentVersion, whose logical id hashes the function's
    // configuration (code, environment, layers, role, timeout, ...): any change to the embedded
    // migrations or to a setting migrate reads publishes a new version, and the trigger, updated
    // with the new HandlerArn, runs migrate again (ExecuteOnHandlerChange).
    this.trigger = new triggers.Trigger(this, 'Run', {
      handler: this.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      executeOnHandlerChange: true,
      timeout: MIGRATE_TRIGGER_TIMEOUT,
      executeAfter: [database.server.ready],
    });
  }
}
