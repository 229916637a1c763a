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

/** Lambda's "Creating and managing Lambda function URLs": "Function URLs are not supported in the
 *  following AWS Regions: Asia Pacific (Hyderabad) (ap-south-2), Asia Pacific (Melbourne)
 *  (ap-southeast-4), Asia Pacific (Malaysia) (ap-southeast-5), Asia Pacific (New Zealand)
 *  (ap-southeast-6), Asia Pacific (Thailand) (ap-southeast-7), Asia Pacific (Taipei) (ap-east-2),
 *  Canada West (Calgary) (ca-west-1), Europe (Spain) (eu-south-2), Europe (Zurich)
 *  (eu-central-2), Israel (Tel Aviv) (il-central-1), and Middle East (UAE) (me-central-1)." */
export const FUNCTION_URLS_PAGE = 'https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html';
export const FUNCTION_URL_UNSUPPORTED_REGIONS: readonly string[] = [
  'ap-south-2',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ap-east-2',
  'ca-west-1',
  'eu-south-2',
  'eu-central-2',
  'il-central-1',
  'me-central-1',
];

/** Whether Lambda offers Function URLs in `region`; undefined when synth does not know the region
 *  (an environment-agnostic synth), where the region decides at deploy time. */
export function offersFunctionUrls(region: string | undefined): boolean | undefined {
  if (region === undefined) return undefined;
  return !FUNCTION_URL_UNSUPPORTED_REGIONS.includes(region);
}

/** Where AWS lists the regions and engine versions RDS Proxy serves, per engine. */
export const RDS_PROXY_REGIONS_PAGES = {
  'aurora-mysql':
    'https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.Aurora_Fea_Regions_DB-eng.Feature.RDS_Proxy.html',
  mysql:
    'https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.RDS_Fea_Regions_DB-eng.Feature.RDSProxy.html',
} as const;

/**
 * Regions whose row in AWS's RDS Proxy table reads "Not available", per engine.
 * - aurora-mysql: "Amazon RDS Proxy with Aurora MySQL": Asia Pacific (New Zealand) and Asia
 *   Pacific (Taipei) read "Not available" for Aurora MySQL version 3 (and 2); every other row
 *   read, from US East (N. Virginia) to China (Ningxia), gives "Version 3.01.0 and higher".
 * - mysql: the RDS page's table for RDS for MariaDB reads "Not available" for the same two
 *   regions in every version column. Its "RDS Proxy with RDS for MySQL" table was not part of the
 *   stored copy this list was read from: the two rows are entered for RDS for MySQL too, to be
 *   confirmed against that table (docs/, RDS Proxy).
 * A region newer than the page is not listed: the deploy, not synth, then says so.
 */
export const RDS_PROXY_UNAVAILABLE: Readonly<Record<'aurora-mysql' | 'mysql', readonly string[]>> = {
  'aurora-mysql': ['ap-east-2', 'ap-southeast-6'],
  mysql: ['ap-east-2', 'ap-southeast-6'],
};
