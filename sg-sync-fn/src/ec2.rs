//! The EC2 calls the sync makes ([`SecurityGroupApi`]), on aws-sdk-ec2.

use std::collections::HashMap;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, SecurityGroupRule, Tag};
use ipnet::IpNet;

use crate::error::Ec2Error;
use crate::error::Ec2Reply;
use crate::family::Family;
use crate::fence::{ForeignRule, Source};
use crate::publication::SyncToken;
use crate::reconcile::security_groups::RuleCall;
use crate::reconcile::weights::reference_weight;
use crate::reconcile::{GroupState, SecurityGroupApi};
use crate::report::Action;
use crate::rules::{PortRange, Rule, rule};

/// The tag on each managed group that records the last applied publication.
pub const SYNC_TOKEN_TAG: &str = "sg-sync-fn:sync-token";

/// [`SecurityGroupApi`] on aws-sdk-ec2. Build it once per execution environment.
#[derive(Clone, Debug)]
pub struct Ec2Client {
    client: aws_sdk_ec2::Client,
}

impl Ec2Client {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Ec2Client {
            client: aws_sdk_ec2::Client::new(config),
        }
    }
}

/// The SDK's error for `op` on `resource`, with EC2's code, message and request id, classified
/// by [`crate::error::classify`].
fn api_error<E>(
    op: &'static str,
    resource: &str,
    e: aws_sdk_ec2::error::SdkError<E, HttpResponse>,
) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // A request the SDK could not even build: a bug here, not a state of EC2.
    let unbuilt = matches!(e, SdkError::ConstructionFailure(_));
    let reply = match &e {
        // No answer (or no request): the code stays empty, and the message is the whole chain.
        SdkError::TimeoutError(_)
        | SdkError::DispatchFailure(_)
        | SdkError::ResponseError(_)
        | SdkError::ConstructionFailure(_) => Ec2Reply {
            code: String::new(),
            message: DisplayErrorContext(&e).to_string(),
            request_id: None,
            source: Some(Box::new(e)),
        },
        _ => Ec2Reply {
            code: e.code().unwrap_or_default().to_owned(),
            message: e.message().unwrap_or_default().to_owned(),
            request_id: e.request_id().map(str::to_owned),
            source: Some(Box::new(e)),
        },
    };
    if unbuilt {
        return Ec2Error::Api {
            op,
            resource: resource.to_owned(),
            reply: Box::new(reply),
        };
    }
    Ec2Error::from_reply(op, resource, reply)
}

fn permission(port: PortRange) -> aws_sdk_ec2::types::builders::IpPermissionBuilder {
    IpPermission::builder()
        .ip_protocol(port.protocol.as_str())
        .from_port(i32::from(port.from))
        .to_port(i32::from(port.to))
}

fn token_of(tags: &[Tag]) -> Option<SyncToken> {
    tags.iter()
        .find(|t| t.key() == Some(SYNC_TOKEN_TAG))
        .and_then(|t| t.value()?.parse().ok())
}

/// Where an inbound rule admits traffic from, `cidr` being its CIDR if it has a readable one.
fn source_of(r: &SecurityGroupRule, cidr: Option<IpNet>) -> Source {
    if let Some(net) = cidr {
        return Source::Cidr(net);
    }
    if let Some(pl) = r.prefix_list_id() {
        return Source::PrefixList(pl.to_owned());
    }
    if let Some(group) = r.referenced_group_info().and_then(|g| g.group_id()) {
        return Source::Group(group.to_owned());
    }
    let text = r
        .cidr_ipv4()
        .or(r.cidr_ipv6())
        .unwrap_or("an unnamed source");
    Source::Other(text.to_owned())
}

fn family_of(address_family: Option<&str>) -> Option<Family> {
    match address_family? {
        f if f.eq_ignore_ascii_case("ipv4") => Some(Family::V4),
        f if f.eq_ignore_ascii_case("ipv6") => Some(Family::V6),
        _ => None,
    }
}

impl Ec2Client {
    /// The slots a referenced prefix list takes in a group, in its family: see
    /// [`reference_weight`].
    async fn prefix_list_sizes(
        &self,
        ids: Vec<String>,
    ) -> Result<HashMap<String, (Family, usize)>, Ec2Error> {
        let mut sizes = HashMap::new();
        if ids.is_empty() {
            return Ok(sizes);
        }
        let resource = ids.join(",");
        let mut pages = self
            .client
            .describe_managed_prefix_lists()
            .set_prefix_list_ids(Some(ids))
            .into_paginator()
            .items()
            .send();
        while let Some(list) = pages.next().await {
            let list = list.map_err(|e| api_error("DescribeManagedPrefixLists", &resource, e))?;
            if let (Some(id), Some(family)) =
                (list.prefix_list_id(), family_of(list.address_family()))
            {
                let weight =
                    reference_weight(list.owner_id(), list.prefix_list_name(), list.max_entries());
                sizes.insert(id.to_owned(), (family, weight));
            }
        }
        Ok(sizes)
    }
}

impl SecurityGroupApi for Ec2Client {
    async fn describe_groups(&self, ids: &[String]) -> Result<Vec<GroupState>, Ec2Error> {
        let resource = ids.join(",");
        let found = self
            .client
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| api_error("DescribeSecurityGroups", &resource, e))?;
        let mut groups: Vec<GroupState> = ids.iter().map(GroupState::new).collect();
        for sg in found.security_groups() {
            if let Some(g) = groups
                .iter_mut()
                .find(|g| Some(g.id.as_str()) == sg.group_id())
            {
                g.sync_token = token_of(sg.tags());
            }
        }
        let mut referenced_lists: Vec<(usize, String)> = Vec::new();
        let mut pages = self
            .client
            .describe_security_group_rules()
            .filters(
                Filter::builder()
                    .name("group-id")
                    .set_values(Some(ids.to_vec()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send();
        while let Some(r) = pages.next().await {
            let r = r.map_err(|e| api_error("DescribeSecurityGroupRules", &resource, e))?;
            if r.is_egress() == Some(true) {
                continue;
            }
            let Some(i) = groups
                .iter()
                .position(|g| Some(g.id.as_str()) == r.group_id())
            else {
                continue;
            };
            let port = PortRange::from_ec2(
                r.ip_protocol().unwrap_or_default(),
                r.from_port(),
                r.to_port(),
            );
            let cidr = r
                .cidr_ipv4()
                .or(r.cidr_ipv6())
                .and_then(|c| c.parse::<IpNet>().ok());
            let g = &mut groups[i];
            if let (true, Some(port), Some(net)) = (rule::is_managed(r.description()), port, cidr) {
                g.managed.push(Rule { port, net });
                continue;
            }
            // Someone else's rule: it takes slots, and the fence looks at it.
            g.foreign.push(ForeignRule {
                group_id: g.id.clone(),
                rule_id: r.security_group_rule_id().map(str::to_owned),
                protocol: r.ip_protocol().unwrap_or_default().to_owned(),
                from_port: r.from_port(),
                to_port: r.to_port(),
                source: source_of(&r, cidr),
            });
            match (cidr, r.prefix_list_id()) {
                (Some(net), _) => g.other[Family::of(&net)] += 1,
                (None, Some(pl)) => referenced_lists.push((i, pl.to_owned())),
                // A security group reference takes one slot in each family.
                (None, None) => {
                    g.other.v4 += 1;
                    g.other.v6 += 1;
                }
            }
        }
        let mut list_ids: Vec<String> = referenced_lists.iter().map(|(_, id)| id.clone()).collect();
        list_ids.sort();
        list_ids.dedup();
        let sizes = self.prefix_list_sizes(list_ids).await?;
        for (i, id) in referenced_lists {
            let (family, max) = sizes.get(&id).copied().unwrap_or((Family::V4, 1));
            groups[i].other[family] += max;
        }
        Ok(groups)
    }

    async fn change_rules(&self, call: &RuleCall<'_>) -> Result<(), Ec2Error> {
        let (group_id, port) = (call.group_id, call.port);
        let authorize = call.action == Action::Authorize;
        let mut p = permission(port);
        for &(net, description) in &call.rules {
            // A revoke names the rule without its description.
            let description = authorize.then(|| description.to_owned());
            p = match net {
                IpNet::V4(_) => p.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(net.to_string())
                        .set_description(description)
                        .build(),
                ),
                IpNet::V6(_) => p.ipv6_ranges(
                    Ipv6Range::builder()
                        .cidr_ipv6(net.to_string())
                        .set_description(description)
                        .build(),
                ),
            };
        }
        if authorize {
            self.client
                .authorize_security_group_ingress()
                .group_id(group_id)
                .ip_permissions(p.build())
                .send()
                .await
                .map_err(|e| api_error("AuthorizeSecurityGroupIngress", group_id, e))?;
            return Ok(());
        }
        let out = self
            .client
            .revoke_security_group_ingress()
            .group_id(group_id)
            .ip_permissions(p.build())
            .send()
            .await
            .map_err(|e| api_error("RevokeSecurityGroupIngress", group_id, e))?;
        if !out.unknown_ip_permissions().is_empty() {
            // EC2 revoked the rest; the unknown ones were already gone, which is the goal.
            tracing::info!(group_id, port = %port, unknown = out.unknown_ip_permissions().len(), "rules already revoked by another run");
        }
        Ok(())
    }

    /// Records the applied publication's token on each group.
    async fn tag_groups(&self, ids: &[String], token: SyncToken) -> Result<(), Ec2Error> {
        self.client
            .create_tags()
            .set_resources(Some(ids.to_vec()))
            .tags(
                Tag::builder()
                    .key(SYNC_TOKEN_TAG)
                    .value(token.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api_error("CreateTags", &ids.join(","), e))?;
        Ok(())
    }
}
