import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as triggers from 'aws-cdk-lib/triggers';
import { Duration } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { StackConfig } from './config';
import { Database, IAM_DB_USER } from './database';
import { Placement, databaseEnvironment, placedIn } from './ingest-function';
import { workspaceFunction } from './rust-function';

/** The `migrate` binary as a Lambda, run by a trigger after the database exists (and, in the
 *  public mode, after the first sync opened it) and before ingest-fn takes traffic. It logs in
 *  with the generated admin secret and, with IAM auth, creates ingest-fn's MySQL account. */
export class Migrations extends Construct {
  readonly function: lambda.Function;
  readonly trigger: triggers.Trigger;

  constructor(scope: Construct, id: string, database: Database, config: StackConfig, placement?: Placement) {
    super(scope, id);
    const environment = {
      ...databaseEnvironment(database, config),
      DB_SECRET_ARN: database.secret.secretArn,
      ...(config.dbAuth === 'iam' && { DB_IAM_USER: IAM_DB_USER }),
    };
    this.function = workspaceFunction(this, 'Function', {
      binaryName: 'migrate',
      architecture: config.architecture,
      description: 'Applies the sqlx migrations to the events database',
      memorySize: 256,
      timeout: Duration.minutes(5),
      // One migration at a time; the trigger is its only caller.
      reservedConcurrentExecutions: 1,
      layers: [database.caLayer],
      environment,
      ...placedIn(placement),
    });
    database.secret.grantRead(this.function);

    // Re-runs whenever the function changes, i.e. whenever the embedded migrations do.
    this.trigger = new triggers.Trigger(this, 'Run', {
      handler: this.function,
      invocationType: triggers.InvocationType.REQUEST_RESPONSE,
      timeout: Duration.minutes(5),
      executeAfter: [database.instance],
    });
  }
}
