//! The admin secret migrate logs in with, and its wait while IAM settles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ingest::Config;
use migrate_fn::iam_settle::Backoff;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::*;

/// A new account with all privileges on the test database, for the admin secret to hold: the
/// test server's own account may have no password (a container's root).
struct Admin {
    user: DropUser,
}

impl Admin {
    const PASSWORD: &str = "only-Select-1";

    async fn create(db: &TestDb) -> Admin {
        let user = format!(
            "migrate_admin_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        db.execute(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
            Admin::PASSWORD
        ))
        .await;
        let admin = Admin {
            user: DropUser::new(db, &user),
        };
        db.execute(format!(
            "GRANT ALL PRIVILEGES ON `{}`.* TO '{user}'@'%'",
            db.name()
        ))
        .await;
        admin
    }
}

/// migrate logged in as `user` with the password from the admin secret `arn`.
fn migrate_with_secret(db: &TestDb, arn: &str, user: &str, sdk: aws_config::SdkConfig) -> Migrate {
    let port = db.options().get_port().to_string();
    let vars = [
        ("DB_HOST", db.options().get_host()),
        ("DB_PORT", port.as_str()),
        ("DB_NAME", db.name()),
        ("DB_USER", user),
        ("DB_ADMIN_SECRET_ARN", arn),
        ("DB_TLS", "disabled"),
    ];
    let config = MigrateConfig::from_lookup(lambda_harness::lookup(&vars)).unwrap();
    // ingest-fn's own setting names no admin.
    assert!(matches!(
        Config::from_lookup(lambda_harness::lookup(&vars)),
        Err(e) if e.name == "DB_SECRET_ARN"
    ));
    Migrate::new(config).with_aws(sdk)
}

// The admin secret is read on every run; a secret that does not exist
// (ResourceNotFoundException) is not IAM settling and fails at once.
#[tokio::test]
async fn migrate_logs_in_with_the_admin_secret_and_does_not_wait_on_a_missing_one() {
    let db = TestDb::new().await;
    let admin = Admin::create(&db).await;
    let user = admin.user.user.clone();
    let secret = TestSecret::create("migrate_admin", Admin::PASSWORD).await;
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
    let migrate = migrate_with_secret(&db, &secret.arn, &user, sdk.clone());
    let r = migrate.handle(&json!({})).await.unwrap();
    assert_eq!(r["migrations"], MIGRATOR.iter().count());

    let missing = secret.arn.replace("migrate_admin", "migrate_gone");
    let e = migrate_with_secret(&db, &missing, &user, sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Credentials", "{e}");
    assert!(e.to_string().contains("ResourceNotFoundException"), "{e}");
}

/// A Secrets Manager on loopback that answers GetSecretValue with AWS's JSON error for a caller
/// not yet allowed (`AccessDeniedException`, HTTP 400) `denials` times, then with the secret.
/// moto cannot stand in here: its denial is `AccessDenied` (HTTP 403), not AWS's code.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html>
struct DenyingSecrets {
    endpoint: String,
    calls: Arc<AtomicUsize>,
}

impl DenyingSecrets {
    async fn start(denials: usize, secret: Value) -> DenyingSecrets {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (counter, secret) = (counter.clone(), secret.clone());
                tokio::spawn(async move {
                    let mut socket = tokio::io::BufReader::new(socket);
                    while read_request(&mut socket).await {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = if n < denials {
                            (
                                "400 Bad Request",
                                json!({
                                    "__type": "AccessDeniedException",
                                    "message": "User: arn:aws:sts::123456789012:assumed-role/migrate/fn is not authorized to perform: secretsmanager:GetSecretValue because no identity-based policy allows the secretsmanager:GetSecretValue action"
                                }),
                            )
                        } else {
                            ("200 OK", secret.clone())
                        };
                        let body = body.to_string();
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket
                            .get_mut()
                            .write_all(response.as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        DenyingSecrets { endpoint, calls }
    }
}

/// Reads one HTTP/1.1 request (headers, then a `content-length` body); false at the end.
async fn read_request(socket: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> bool {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut length = 0;
    loop {
        let mut line = String::new();
        match socket.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await.is_ok()
}

// Right after a deploy the role's new policy may not be in effect yet: migrate waits while
// Secrets Manager answers AccessDeniedException, then logs in; a denial that outlasts the wait
// fails naming the code and what was denied.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
#[tokio::test]
async fn migrate_waits_while_secrets_manager_denies_access_then_names_the_denial() {
    let db = TestDb::new().await;
    let admin = Admin::create(&db).await;
    let (user, password) = (admin.user.user.clone(), Admin::PASSWORD.to_owned());
    let arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:admin-AbCdEf";
    let secret_with = |password: &str| {
        json!({
            "ARN": arn, "Name": "admin", "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
            "SecretString": json!({"username": user, "password": password}).to_string(),
            "CreatedDate": 1.8e9,
        })
    };
    let secret = secret_with(&password);
    // Short pauses: the schedule itself is tested in migrate_fn::iam_settle.
    let backoff = Backoff {
        first: Duration::from_millis(10),
        max: Duration::from_millis(20),
        limit: Duration::from_secs(30),
    };
    let stub = DenyingSecrets::start(2, secret.clone()).await;
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
    let r = migrate_with_secret(&db, arn, &user, sdk)
        .with_backoff(backoff)
        .handle(&json!({}))
        .await
        .unwrap();
    assert_eq!(r["migrations"], MIGRATOR.iter().count());
    assert_eq!(
        stub.calls.load(Ordering::SeqCst),
        3,
        "two denials, then the secret"
    );

    let stub = DenyingSecrets::start(usize::MAX, secret).await;
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
    let backoff = Backoff {
        limit: Duration::from_millis(100),
        ..backoff
    };
    let e = migrate_with_secret(&db, arn, &user, sdk)
        .with_backoff(backoff)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "IamNotSettled", "{e}");
    let message = e.to_string();
    for part in [
        "AccessDeniedException",
        &format!("secretsmanager:GetSecretValue on {arn} (DB_ADMIN_SECRET_ARN)"),
        "for IAM to settle",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(stub.calls.load(Ordering::SeqCst) > 1);

    // A password the server refuses (1045) is not IAM settling: it fails at once, on the
    // real schedule (a wrong classification would end in IamNotSettled instead).
    let stub = DenyingSecrets::start(0, secret_with("not-the-Password-1")).await;
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
    let e = migrate_with_secret(&db, arn, &user, sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Login", "{e}");
    assert!(e.to_string().contains("1045"), "{e}");
}
