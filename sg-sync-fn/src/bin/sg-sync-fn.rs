//! The sync Lambda: SNS notifications, the backstop schedule and direct invokes.

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use sg_sync::ec2::Ec2Client;
use sg_sync::fetch::Fetcher;
use sg_sync::{Settings, Syncer, invocation, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    // Built once per execution environment and reused by every invocation.
    let settings = Settings::from_env()?;
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let syncer = Syncer::new(settings, Ec2Client::new(&config), Fetcher::new()?);
    let syncer = &syncer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        invocation::handle(syncer, event)
    }))
    .await
}
