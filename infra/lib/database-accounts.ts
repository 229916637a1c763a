import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';

// The MySQL accounts: the admin (master) account of the instance's generated secret, which
// migrate alone logs in as, ingest-fn's least-privilege account that migrate creates, the
// read-only account migrate creates and answers `ingest-load --verify-function` through, and
// (retentionDays set) ingest-expire's SELECT/DELETE account, which migrate creates too.

/** The MySQL account ingest-fn logs in as with IAM tokens; migrate creates it. */
export const IAM_DB_USER = 'ingest_fn';
/** The MySQL account ingest-fn logs in as with `dbAuth=secret`; migrate creates it with the
 *  password of its own generated secret. */
export const PASSWORD_DB_USER = 'ingest_fn_pw';
/** The read-only MySQL account (SELECT on the events table only) that migrate creates and logs
 *  in as with IAM tokens (`dbAuth=iam`, DB_READER_IAM_USER) to answer a verify request, so a
 *  check of stored events runs without the admin's rights. */
export const READER_IAM_DB_USER = 'ingest_reader';
/** The read-only account of `dbAuth=secret`: migrate creates it with the password of its own
 *  generated secret (DB_READER_SECRET_ARN) and logs in as it to answer a verify request. */
export const READER_PASSWORD_DB_USER = 'ingest_reader_pw';
/** The MySQL account ingest-expire logs in as with IAM tokens (`dbAuth=iam`): SELECT and DELETE
 *  on the events table only. migrate creates it (DB_EXPIRE_IAM_USER) when retentionDays is set. */
export const EXPIRE_IAM_DB_USER = 'ingest_expire';
/** ingest-expire's account with `dbAuth=secret`: migrate creates it with the password of its own
 *  generated secret (DB_EXPIRE_SECRET_ARN), which ingest-expire logs in with (DB_SECRET_ARN). */
export const EXPIRE_PASSWORD_DB_USER = 'ingest_expire_pw';
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

/** A password account migrate creates from its own secret (migrate-fn/src/accounts.rs). */
export interface PasswordAccount {
  /** The MySQL user name, stored in the secret beside the password. */
  readonly username: string;
  /** What migrate grants it on the events table (accounts.rs, `Role::privileges`). */
  readonly privileges: string;
  /** Who logs in as it. */
  readonly usedBy: string;
}

/** ingest-fn's account with `dbAuth=secret`. */
export const INGEST_PASSWORD_ACCOUNT: PasswordAccount = {
  username: PASSWORD_DB_USER,
  privileges: 'SELECT, INSERT',
  usedBy: 'ingest-fn',
};

/** The reader with `dbAuth=secret`: migrate alone reads its secret, ingest-fn never. */
export const READER_PASSWORD_ACCOUNT: PasswordAccount = {
  username: READER_PASSWORD_DB_USER,
  privileges: 'SELECT',
  usedBy: 'migrate\'s verify requests',
};

/** ingest-expire's account with `dbAuth=secret` (retentionDays set): it reads rows to archive
 *  and deletes them, and may write nothing. */
export const EXPIRE_PASSWORD_ACCOUNT: PasswordAccount = {
  username: EXPIRE_PASSWORD_DB_USER,
  privileges: 'SELECT, DELETE',
  usedBy: 'ingest-expire',
};

export interface PasswordAccountSecretProps {
  readonly account: PasswordAccount;
  readonly removalPolicy: RemovalPolicy;
}

/** The password of a password account (`dbAuth=secret`): JSON `{"username", "password"}`, read
 *  by migrate to create the account, and by whoever logs in as it. The password is 32 characters,
 *  none of PASSWORD_EXCLUDES: migrate splices it into `IDENTIFIED BY '...'` (MySQL takes no bind
 *  parameter there) and refuses quotes, backslashes and spaces (accounts.rs,
 *  `PasswordAccount::new`: 16 to 128 printable ASCII characters). */
export class PasswordAccountSecret extends secretsmanager.Secret {
  constructor(scope: Construct, id: string, props: PasswordAccountSecretProps) {
    const { username, privileges, usedBy } = props.account;
    super(scope, id, {
      description: `Password of the MySQL account ${username} (${privileges} on events) for ${usedBy}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ username }),
        generateStringKey: 'password',
        excludeCharacters: PASSWORD_EXCLUDES,
        passwordLength: 32,
      },
      removalPolicy: props.removalPolicy,
    });
  }
}
