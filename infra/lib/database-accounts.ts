import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';

// The MySQL accounts: the admin (master) account of the instance's generated secret, which
// migrate alone logs in as, and ingest-fn's least-privilege account that migrate creates.

/** The MySQL account ingest-fn logs in as with IAM tokens; migrate creates it. */
export const IAM_DB_USER = 'ingest_fn';
/** The MySQL account ingest-fn logs in as with `dbAuth=secret`; migrate creates it with the
 *  password of its own generated secret. */
export const PASSWORD_DB_USER = 'ingest_fn_pw';
/** The instance's master user name. */
export const ADMIN_DB_USER = 'admin';
/** Characters left out of generated passwords: they need quoting in SQL or in a URL. */
const PASSWORD_EXCLUDES = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\';

/** The admin account: a password RDS's CloudFormation handler generates into a secret that
 *  becomes the instance's child (`Instance/Secret`). */
export function adminCredentials(): rds.Credentials {
  return rds.Credentials.fromGeneratedSecret(ADMIN_DB_USER, { excludeCharacters: PASSWORD_EXCLUDES });
}

/** Applies `policy` to the instance's or cluster's generated admin secret (its `secret` is the
 *  attachment; the secret itself is its child). */
export function applyAdminSecretRemovalPolicy(
  database: rds.DatabaseInstance | rds.DatabaseCluster,
  policy: RemovalPolicy,
): void {
  (database.node.findChild('Secret') as secretsmanager.Secret).applyRemovalPolicy(policy);
}

export interface PasswordAccountSecretProps {
  readonly removalPolicy: RemovalPolicy;
}

/** The password of ingest-fn's account with `dbAuth=secret` (user PASSWORD_DB_USER): JSON
 *  `{"username", "password"}`, read by migrate to create the account and by ingest-fn to log in. */
export class PasswordAccountSecret extends secretsmanager.Secret {
  constructor(scope: Construct, id: string, props: PasswordAccountSecretProps) {
    super(scope, id, {
      description: `Password of the MySQL account ${PASSWORD_DB_USER} (SELECT, INSERT on events) for ingest-fn`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username: PASSWORD_DB_USER }),
        generateStringKey: 'password',
        excludeCharacters: PASSWORD_EXCLUDES,
        passwordLength: 32,
      },
      removalPolicy: props.removalPolicy,
    });
  }
}
