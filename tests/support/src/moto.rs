//! moto, the AWS stand-in of the tests and the local stack: the one place that starts its
//! server (`moto_server` on PATH, as `tests/env.sh`'s `ensure_venv` puts it there, or
//! `MOTO_SERVER`), and what the tests set up in its EC2 and Secrets Manager.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long moto's server may take to listen (it imports every service's models first).
const START_WITHIN: Duration = Duration::from_secs(30);

/// Starts moto's server on a free loopback port, its output appended to `log`, and returns
/// its endpoint. The server is stopped when this process exits, however it exits (a shell
/// beside it watches this process), so nothing has to stop it.
pub fn start(log: &Path) -> Result<String, MotoError> {
    let server = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let failed = |reason: String| MotoError::Start {
        server: server.clone(),
        log: log.to_owned(),
        reason,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(format!("no free loopback port: {e}")))?;
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| failed(format!("opening the log: {e}")))?;
    let errors = output
        .try_clone()
        .map_err(|e| failed(format!("opening the log: {e}")))?;
    // The shell ends, taking moto with it, when this process or moto has gone.
    let script = format!(
        "\"$0\" -H 127.0.0.1 -p {port} & m=$!; trap 'kill $m 2>/dev/null' EXIT; \
         while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done",
        std::process::id()
    );
    let mut shell = Command::new("sh")
        .args(["-c", script.as_str(), server.as_str()])
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .map_err(|e| failed(format!("running sh: {e}")))?;
    let deadline = Instant::now() + START_WITHIN;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            std::thread::spawn(move || shell.wait());
            return Ok(format!("http://127.0.0.1:{port}"));
        }
        if let Ok(Some(status)) = shell.try_wait() {
            return Err(failed(format!("it exited ({status}) before it listened")));
        }
        if Instant::now() > deadline {
            let _ = shell.kill();
            return Err(failed(format!(
                "it did not listen on 127.0.0.1:{port} within {START_WITHIN:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The endpoint the tests point the AWS SDK at: `AWS_ENDPOINT_URL` when set (a moto someone
/// runs), otherwise one server [`start`]ed for the life of this test process, logging to
/// `moto-<pid>.log` in the temporary folder. Panics saying why there is none.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
            return url;
        }
        let log = std::env::temp_dir().join(format!("moto-{}.log", std::process::id()));
        start(&log).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Runs a test whose code under test builds its AWS clients from the environment, as on
/// Lambda, in an environment that points them at moto: returns true when this process's
/// environment has `AWS_ENDPOINT_URL` (run the test here); otherwise runs `test` (its full
/// name) again in a child process of this test binary with `AWS_ENDPOINT_URL` naming
/// [`endpoint`] and test credentials, fails unless the child's test passed, and returns false.
pub fn in_environment_pointing_at_moto(test: &str) -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        return true;
    }
    let this = std::env::current_exe().expect("this test binary's path");
    let out = Command::new(this)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "ap-northeast-1")
        .output()
        .expect("running this test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a child process with AWS_ENDPOINT_URL={}: {}\n{stdout}\n{}",
        endpoint(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// An SDK configuration for `endpoint` (moto, or the local Invoke API) with fixed test
/// credentials, nothing read from the environment but what the SDK always reads.
pub async fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// Why moto could not set up what a test needs.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "starting moto ({server}, log {log:?}): {reason}; `source tests/env.sh; ensure_venv` \
         installs it and puts it on PATH, or set MOTO_SERVER to it"
    )]
    Start {
        server: String,
        log: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Ec2(#[from] aws_sdk_ec2::Error),
    #[error("moto returned no {0} id")]
    NoId(&'static str),
}

/// The database's security groups as stand-ins: a new VPC with `n` empty groups named
/// `{name}-{i}`, in placement order.
pub async fn security_groups(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    n: usize,
) -> Result<Vec<String>, MotoError> {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .map_err(aws_sdk_ec2::Error::from)?;
    let vpc = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or(MotoError::NoId("VPC"))?;
    let mut ids = Vec::new();
    for i in 1..=n {
        let group = ec2
            .create_security_group()
            .group_name(format!("{name}-{i}"))
            .description(format!("stand-in for the database's group {i}/{n}"))
            .vpc_id(vpc)
            .send()
            .await
            .map_err(aws_sdk_ec2::Error::from)?;
        ids.push(
            group
                .group_id()
                .ok_or(MotoError::NoId("security group"))?
                .to_owned(),
        );
    }
    Ok(ids)
}

/// Opens tcp `port` to `cidr` in `group` with `description`: a rule someone else made, which a
/// sync must leave alone.
pub async fn add_rule(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    port: i32,
    cidr: &str,
    description: &str,
) -> Result<(), aws_sdk_ec2::Error> {
    let tcp = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port);
    authorize(ec2, group, tcp, cidr, description).await
}

/// Opens every protocol and port (protocol `-1`) to `cidr` in `group`: someone else's rule that
/// admits the database port too.
pub async fn add_all_traffic_rule(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    cidr: &str,
    description: &str,
) -> Result<(), aws_sdk_ec2::Error> {
    let all = aws_sdk_ec2::types::IpPermission::builder().ip_protocol("-1");
    authorize(ec2, group, all, cidr, description).await
}

async fn authorize(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    permission: aws_sdk_ec2::types::builders::IpPermissionBuilder,
    cidr: &str,
    description: &str,
) -> Result<(), aws_sdk_ec2::Error> {
    let range = aws_sdk_ec2::types::IpRange::builder()
        .cidr_ip(cidr)
        .description(description)
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(permission.ip_ranges(range).build())
        .send()
        .await?;
    Ok(())
}

/// One IPv4 inbound rule of a security group, as the tests and the local stack print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRule {
    pub port: i32,
    pub cidr: String,
    pub description: String,
}

/// The IPv4 inbound rules of one group.
pub async fn inbound_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<InboundRule>, aws_sdk_ec2::Error> {
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await?;
    Ok(out
        .security_groups()
        .iter()
        .flat_map(|g| g.ip_permissions())
        .flat_map(|p| {
            p.ip_ranges().iter().map(|r| InboundRule {
                port: p.from_port().unwrap_or_default(),
                cidr: r.cidr_ip().unwrap_or_default().to_owned(),
                description: r.description().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// A database secret in moto's Secrets Manager, JSON with `username` and `password` as RDS
/// writes them, for an account named `<prefix>_<random>`.
pub struct TestSecret {
    client: aws_sdk_secretsmanager::Client,
    pub arn: String,
    pub user: String,
}

impl TestSecret {
    pub async fn create(prefix: &str, password: &str) -> TestSecret {
        let sdk = sdk_config(endpoint(), "ap-northeast-1").await;
        let client = aws_sdk_secretsmanager::Client::new(&sdk);
        let suffix = &uuid::Uuid::now_v7().simple().to_string()[24..];
        let user = format!("{prefix}_{suffix}");
        let arn = client
            .create_secret()
            .name(format!("{prefix}-{suffix}"))
            .secret_string(Self::value(&user, password))
            .send()
            .await
            .expect("CreateSecret on moto")
            .arn()
            .expect("an ARN")
            .to_owned();
        TestSecret { client, arn, user }
    }

    /// Puts a new password in the secret, as a rotation does.
    pub async fn rotate(&self, password: &str) {
        self.client
            .put_secret_value()
            .secret_id(&self.arn)
            .secret_string(Self::value(&self.user, password))
            .send()
            .await
            .expect("PutSecretValue on moto");
    }

    fn value(user: &str, password: &str) -> String {
        serde_json::json!({"username": user, "password": password}).to_string()
    }
}
