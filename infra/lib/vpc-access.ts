import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Database } from './database';
import { DATABASE_PORT } from './database-instance';
import { Network, Placement } from './network';

export interface VpcAccessProps {
  readonly network: Network;
  readonly database: Database;
  /** ingest-fn reaches the database only through RDS Proxy (`proxy=true`), which admits it
   *  itself (lib/proxy.ts): no rule from its group to the database or the endpoint. */
  readonly ingestViaProxy?: boolean;
  /** ingest-expire runs too (retentionDays): a group of its own, with MySQL and Secrets Manager
   *  as migrate's (its HTTPS to the archive is added where the archive is, lib/retention.ts). */
  readonly expire?: boolean;
}

/** The `vpc` mode's wiring: a security group for each function inside the VPC (no egress but
 *  what is added here), the Secrets Manager endpoint they reach without a NAT gateway, and
 *  MySQL from those groups to the database's private group.
 *
 *  The groups are created in the stack's scope (whatever `scope` is), under the ids they had
 *  before this construct existed: a new logical id would replace each group, and every
 *  function ENI with it, on the next deploy of an existing stack. */
export class VpcAccess extends Construct {
  readonly ingest: Placement;
  readonly migrate: Placement;
  /** ingest-expire's (retentionDays set). */
  readonly expire?: Placement;

  constructor(scope: Construct, id: string, props: VpcAccessProps) {
    super(scope, id);
    const { network, database } = props;
    const stack = Stack.of(this);
    const group = (groupId: string, description: string) =>
      new ec2.SecurityGroup(stack, groupId, { vpc: network.vpc, description, allowAllOutbound: false });
    const placement = (groupId: string, name: string): Placement => ({
      vpc: network.vpc,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroup: group(groupId, `${name}: MySQL and Secrets Manager only`),
    });
    this.ingest = placement('IngestGroup', 'ingest-fn');
    this.migrate = placement('MigrateGroup', 'migrate');
    if (props.expire) this.expire = placement('ExpireGroup', 'ingest-expire');
    // migrate (and ingest-fn and ingest-expire with dbAuth=secret) read Secrets Manager without a
    // NAT gateway.
    const endpoint = network.vpc.addInterfaceEndpoint('SecretsManager', {
      service: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      open: false,
      // An endpoint answers; it never opens connections.
      securityGroups: [group('SecretsManagerEndpointGroup', 'Secrets Manager endpoint: HTTPS from the functions only')],
    });
    const privateGroup = database.privateGroup as ec2.SecurityGroup;
    const direct = [...(props.ingestViaProxy ? [] : [this.ingest]), this.migrate, ...(this.expire ? [this.expire] : [])];
    for (const p of direct) {
      privateGroup.connections.allowFrom(p.securityGroup, ec2.Port.tcp(DATABASE_PORT), 'MySQL from a function');
      endpoint.connections.allowDefaultPortFrom(p.securityGroup, 'Secrets Manager from a function');
    }
  }
}
