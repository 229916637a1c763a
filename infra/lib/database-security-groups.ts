import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { Mode } from './config';

export interface DatabaseSecurityGroupsProps {
  readonly vpc: ec2.IVpc;
  readonly mode: Mode;
  /** How many groups sg-sync-fn fills (public mode). */
  readonly poolSize: number;
}

/** The groups on the instance: in the public mode a pool that sg-sync-fn fills with the
 *  region's EC2 ranges, in the vpc mode one group that admits the functions in the VPC. */
export interface DatabaseSecurityGroups {
  /** The pool sg-sync-fn manages (public mode); empty in the vpc mode. */
  readonly synced: ec2.SecurityGroup[];
  /** The group that admits the functions inside the VPC (vpc mode). */
  readonly private?: ec2.SecurityGroup;
  /** Every group, as the instance takes them. */
  readonly all: ec2.SecurityGroup[];
}

/** Creates the database's groups directly in `scope` (the Database construct), under the ids
 *  they have always had: a construct of their own would add a path component to every logical
 *  id, and a new logical id replaces the group, and with it the instance's network interface. */
export function databaseSecurityGroups(scope: Construct, props: DatabaseSecurityGroupsProps): DatabaseSecurityGroups {
  if (props.mode === 'vpc') {
    const group = new ec2.SecurityGroup(scope, 'PrivateGroup', {
      vpc: props.vpc,
      description: 'RDS MySQL ingress from the functions in the VPC',
      allowAllOutbound: false,
    });
    return { synced: [], private: group, all: [group] };
  }
  const synced: ec2.SecurityGroup[] = [];
  for (let i = 1; i <= props.poolSize; i++) {
    synced.push(
      new ec2.SecurityGroup(scope, `SyncedGroup${i}`, {
        vpc: props.vpc,
        // GroupDescription is immutable (a change replaces the group): nothing in it may
        // depend on the pool size, or growing the pool would empty every group.
        description: `RDS MySQL ingress, pool group ${i}, managed by sg-sync-fn`,
        // No ingress at deploy time; the database itself opens no connections.
        allowAllOutbound: false,
      }),
    );
  }
  return { synced, all: synced };
}
