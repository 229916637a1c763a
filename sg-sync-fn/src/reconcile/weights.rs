//! How many of a security group's rule slots a rule that references a prefix list takes.

/// The published weights of AWS-managed prefix lists, by the name's service part (the name is
/// `com.amazonaws.<region>.<service>` or `com.amazonaws.global.<service>`).
/// https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html#aws-managed-prefix-list-weights
const AWS_MANAGED_WEIGHTS: &[(&str, usize)] = &[
    ("cloudfront.origin-facing", 55),
    ("ipv6.cloudfront.origin-facing", 55),
    ("dynamodb", 1),
    ("ec2-instance-connect", 2),
    ("ipv6.ec2-instance-connect", 2),
    ("groundstation", 5),
    ("route53-healthchecks", 25),
    ("ipv6.route53-healthchecks", 25),
    ("s3", 1),
    ("s3express", 6),
    ("vpc-lattice", 10),
    ("ipv6.vpc-lattice", 10),
];

/// A list AWS manages but whose weight is not published here: counted as the heaviest known,
/// so the plan errs towards refusing a change rather than hitting the quota mid-sync.
const UNKNOWN_AWS_MANAGED_WEIGHT: usize = 55;

/// How many rules a security group rule that references a prefix list counts for. A
/// customer-managed list counts its `MaxEntries`; an AWS-managed list (owner `AWS`) counts its
/// published weight, which DescribeManagedPrefixLists does not return.
/// https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-prefix-lists
pub(crate) fn reference_weight(
    owner: Option<&str>,
    name: Option<&str>,
    max_entries: Option<i32>,
) -> usize {
    if owner == Some("AWS") {
        let service = name.and_then(|n| {
            let rest = n.strip_prefix("com.amazonaws.")?;
            // Drop the region (or "global"): the first dot-separated part.
            Some(rest.split_once('.')?.1)
        });
        let known = service.and_then(|s| {
            AWS_MANAGED_WEIGHTS
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, w)| *w)
        });
        return known.unwrap_or(UNKNOWN_AWS_MANAGED_WEIGHT);
    }
    max_entries.map_or(1, |m| m.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A referenced prefix list counts against the group's rule quota by its maximum entries,
    // an AWS-managed one by its published weight (CloudFront's origin-facing list: 55).
    // https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html#aws-managed-prefix-list-weights
    #[test]
    fn vpc_quota_a_referenced_prefix_list_counts_by_its_weight() {
        let aws = Some("AWS");
        assert_eq!(
            reference_weight(
                aws,
                Some("com.amazonaws.global.cloudfront.origin-facing"),
                None
            ),
            55
        );
        assert_eq!(
            reference_weight(
                aws,
                Some("com.amazonaws.global.ipv6.cloudfront.origin-facing"),
                None
            ),
            55
        );
        assert_eq!(
            reference_weight(aws, Some("com.amazonaws.ap-northeast-1.s3"), None),
            1
        );
        assert_eq!(
            reference_weight(
                aws,
                Some("com.amazonaws.ap-northeast-1.route53-healthchecks"),
                None
            ),
            25
        );
        // AWS-managed with a MaxEntries that is not its weight: the weight wins.
        assert_eq!(
            reference_weight(
                aws,
                Some("com.amazonaws.global.cloudfront.origin-facing"),
                Some(1)
            ),
            55
        );
        // Unknown AWS-managed lists count as the heaviest known.
        assert_eq!(
            reference_weight(aws, Some("com.amazonaws.ap-northeast-1.new-service"), None),
            55
        );
        // Customer-managed: MaxEntries.
        assert_eq!(
            reference_weight(Some("123456789012"), Some("office"), Some(20)),
            20
        );
        assert_eq!(reference_weight(Some("123456789012"), None, None), 1);
    }
}
