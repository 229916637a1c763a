import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { databaseParameters } from './database-parameters';

// Aurora MySQL splits the stack's parameters between two groups: TLS enforcement is a
// cluster-level parameter (it "isn't available in DB instance parameter groups"), while
// max_connections, wait_timeout and the slow query log are instance-level
// (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraMySQL.Reference.ParameterGroups.html).
// test/aurora.test.ts checks each value against lib/aurora-support.ts.

/** The cluster-level values, as the aurora-mysql8.0 cluster group stores them: ON/OFF, where the
 *  RDS MySQL instance group takes 0/1. */
export function clusterParameters(): Record<string, string> {
  return { require_secure_transport: 'ON' };
}

/** The instance-level values: the RDS MySQL group's (database-parameters.ts) but TLS, which lives
 *  in the cluster group; max_connections only when the stack fixes it (a provisioned class, or
 *  dbMaxConnections given), else Aurora derives it from the maximum capacity. */
export function clusterInstanceParameters(maxConnections?: number): Record<string, string> {
  const { require_secure_transport: _tls, max_connections: _max, ...rest } = databaseParameters(maxConnections ?? 0);
  return { ...(maxConnections !== undefined && { max_connections: String(maxConnections) }), ...rest };
}

export interface ClusterParameterGroupsProps {
  readonly engine: rds.IClusterEngine;
  /** max_connections to fix, or undefined for Aurora's own value. */
  readonly maxConnections?: number;
}

/** The cluster's two parameter groups. */
export class ClusterParameterGroups extends Construct {
  /** The DB cluster parameter group (AWS::RDS::DBClusterParameterGroup). */
  readonly cluster: rds.ParameterGroup;
  /** The DB parameter group of every instance (AWS::RDS::DBParameterGroup). */
  readonly instance: rds.ParameterGroup;

  constructor(scope: Construct, id: string, props: ClusterParameterGroupsProps) {
    super(scope, id);
    this.cluster = new rds.ParameterGroup(this, 'Cluster', {
      engine: props.engine,
      description: 'TLS only (require_secure_transport=ON)',
      parameters: clusterParameters(),
    });
    this.instance = new rds.ParameterGroup(this, 'Instance', {
      engine: props.engine,
      description: 'Idle sessions closed, slow query log to file; max_connections when the stack fixes it',
      parameters: clusterInstanceParameters(props.maxConnections),
    });
  }
}
