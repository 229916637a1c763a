//! moto's EC2 server for tests: `AWS_ENDPOINT_URL` when set, otherwise one started on a free
//! loopback port for the life of the test process (`moto_server` on PATH, or `MOTO_SERVER`).

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The endpoint to point the AWS SDK at.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
            return url;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let server = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        // The shell stops moto when this test process exits, however it exits.
        let script = format!(
            "{server} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; trap 'kill $m' EXIT; \
             while kill -0 {} 2>/dev/null; do sleep 0.5; done",
            std::process::id()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .expect("start moto: pip install 'moto[server]', or set AWS_ENDPOINT_URL to a running moto server");
        std::thread::spawn(move || child.wait());
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return format!("http://127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{server} did not listen on 127.0.0.1:{port} within 20 s: is moto[server] installed?");
    })
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
    let range = aws_sdk_ec2::types::IpRange::builder()
        .cidr_ip(cidr)
        .description(description)
        .build();
    let permission = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(range)
        .build();
    ec2.authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(permission)
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
