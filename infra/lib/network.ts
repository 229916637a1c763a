import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Mode } from './config';

/** Where a function inside the VPC runs (vpc mode only). */
export interface Placement {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.SecurityGroup;
}

/** The function props that put a function inside the VPC, or none (public mode). */
export function placedIn(placement?: Placement) {
  return placement
    ? { vpc: placement.vpc, vpcSubnets: placement.subnets, securityGroups: [placement.securityGroup] }
    : {};
}

export interface NetworkProps {
  readonly mode: Mode;
}

/** Two AZs, public subnets, no NAT gateway. The `vpc` mode adds isolated subnets for the
 *  database and the functions, and the one interface endpoint they need (Secrets Manager). */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where the database lives. */
  readonly databaseSubnets: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { mode } = props;
    const subnetConfiguration: ec2.SubnetConfiguration[] = [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
    ];
    if (mode === 'vpc') {
      subnetConfiguration.push({
        name: 'isolated',
        subnetType: ec2.SubnetType.PRIVATE_ISOLATED,
        cidrMask: 24,
      });
    }
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration,
    });
    // The database is reachable from the internet in the default mode: keep a record of
    // every connection attempt, accepted or rejected.
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    this.databaseSubnets = {
      subnetType: mode === 'vpc' ? ec2.SubnetType.PRIVATE_ISOLATED : ec2.SubnetType.PUBLIC,
    };
  }
}
