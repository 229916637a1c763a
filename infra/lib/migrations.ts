import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as triggers from 'aws-cdk-lib/triggers';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { Database, IAM_DB_USER } from './database';
import { Placement, placedIn } from './network';
import { workspaceFunction } from './rust-function';

/** The `migrate` binary as a Lambda, run by a trigger after the database exists (and, in the
 *  public mode, after the first sync opened it) and before ingest-fn takes traffic. It logs in
 *  with the generated admin secret and creates ingest-fn's least-privilege MySQL account: an
 *  IAM-token account (dbAuth=iam) or a password account from its own secret (dbAuth=secret). */
export class Migrations extends Construct {
  readonly function: lambda.Function;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, database: Database, config: StackConfig, placement?: Placement) {
    super(scope, id);
    const environment = {
      ...database.environment(config),
      DB_SECRET_ARN: database.secret.secretArn,
      ...(config.dbAuth === 'iam' && { DB_IAM_USER: IAM_DB_USER }),
      ...(database.ingestSecret && { DB_INGEST_SECRET_ARN: database.ingestSecret.secretArn }),
    };
    this.function = workspaceFunction(this, 'Function', {
      binaryName: 'migrate',
      architecture: config.architecture,
      description: 'Applies the sqlx migrations to the events database',
      memorySize: 256,
      timeout: Duration.minutes(5),
      // No reserved concurrency: Lambda keeps 100 of the account's quota unreserved, so a new
      // account (quota 10) could not reserve even 1 and the deploy would fail. The trigger is
      // the only caller, and sqlx serialises concurrent runs with a database lock.
      layers: [database.caLayer],
      environment,
      ...placedIn(placement),
    });
    database.secret.grantRead(this.function);
    database.ingestSecret?.grantRead(this.function);

    // Re-runs whenever the function changes, i.e. whenever the embedded migrations do.
    this.trigger = new triggers.Trigger(this, 'Run', {
      handler: this.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.minutes(5),
      executeAfter: [database.instance],
    });
  }
}
