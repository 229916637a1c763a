import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';

export interface DatabaseParametersProps {
  readonly engine: rds.IEngine;
  /** max_connections: fixed by the stack (config.ts's dbMaxConnections). */
  readonly maxConnections: number;
}

/** Seconds an idle session lives before MySQL closes it (wait_timeout): a retired Lambda
 *  environment never closes its connection; this frees its slot. RDS Proxy idles its clients
 *  out after the same time (proxy.ts). */
export const WAIT_TIMEOUT_SECONDS = 300;

/** The values the stack sets, as RDS stores them for an instance parameter group (booleans
 *  0/1); test/day-two.test.ts checks each against MYSQL_84_PARAMETERS (lib/engine-support.ts). */
export function databaseParameters(maxConnections: number): Record<string, string> {
  return {
    require_secure_transport: '1',
    // Fixed, not the memory-derived default, so the concurrency arithmetic holds.
    max_connections: String(maxConnections),
    wait_timeout: String(WAIT_TIMEOUT_SECONDS),
    // The `slowquery` export publishes the slow query log file: it must be on, and RDS
    // writes it to a file only with log_output=FILE (the RDS default is TABLE).
    slow_query_log: '1',
    long_query_time: '1',
    log_output: 'FILE',
  };
}

/** The instance's parameter group: TLS only, max_connections sized for ingest-fn's reserved
 *  concurrency, idle sessions closed, the slow query log written for its export. */
export class DatabaseParameters extends rds.ParameterGroup {
  constructor(scope: Construct, id: string, props: DatabaseParametersProps) {
    super(scope, id, {
      engine: props.engine,
      description: 'TLS only; max_connections sized for ingest-fn reserved concurrency',
      parameters: databaseParameters(props.maxConnections),
    });
  }
}
