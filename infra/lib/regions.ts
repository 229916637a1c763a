import { RegionInfo } from 'aws-cdk-lib/region-info';

/** Where AmazonIpSpaceChanged lives: a region enabled by default. */
export const IP_SPACE_CHANGED_REGION = 'us-east-1';

/**
 * Regions SNS's own table lists as opt-in although the account pages count them as enabled
 * by default: SNS decides delivery, so its list wins.
 * https://docs.aws.amazon.com/sns/latest/dg/sns-cross-region-delivery.html#opt-in-regions
 */
const SNS_ONLY_OPT_IN = ['ap-northeast-3'];

/**
 * Whether AmazonIpSpaceChanged (us-east-1, enabled by default) can invoke a Lambda function in
 * `region`. "AWS doesn't support cross-region delivery to Lambda from a region that is enabled
 * by default to an opt-in region."
 * https://docs.aws.amazon.com/sns/latest/dg/lambda-prereq.html
 *
 * Opt-in regions are those launched after 20 March 2019; CDK's region table knows which. A
 * region CDK does not know is newer than this aws-cdk-lib, hence opt-in too.
 * https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-regions.html
 */
export function receivesIpSpaceChanged(region: string): boolean {
  if (SNS_ONLY_OPT_IN.includes(region)) return false;
  const known = RegionInfo.regions.some((r) => r.name === region);
  return known && !RegionInfo.get(region).isOptInRegion;
}

/** The longest backstop interval where no notification arrives: ranges change a few times a
 *  day, and a sync of an unchanged publication costs one describe call. */
export const OPT_IN_MAX_SYNC_MINUTES = 15;

/** The interval of a `rate(...)` expression in minutes, or undefined for anything else. */
export function rateMinutes(expression: string): number | undefined {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m) return undefined;
  const unit = m[2].startsWith('minute') ? 1 : m[2].startsWith('hour') ? 60 : 1440;
  return Number(m[1]) * unit;
}
