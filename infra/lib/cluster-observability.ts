import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Duration } from 'aws-cdk-lib';
import type { StackConfig } from './config';
import type { DatabaseCluster } from './database-cluster';

// The Aurora cluster's alarms and dashboard widgets. "For Aurora, use WRITER or READER role
// metrics to set up alarms instead of relying on metrics for specific DB instances. Aurora DB
// instance roles can change roles over time": connections and CPU are the writer's, by the
// DBClusterIdentifier and Role dimensions; capacity is the cluster's (ACU_UTILIZATION_HIGH says
// why not ACUUtilization by Role).
// https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/creating_alarms.html
// https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html
// No storage alarm: Aurora's cluster volume grows by itself and has no FreeStorageSpace to run
// out of (the RDS instance's DatabaseFreeStorage alarm has no counterpart).

/** An AWS/RDS metric of the cluster's writer. */
export function writerMetric(cluster: DatabaseCluster, name: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/RDS',
    metricName: name,
    ...options,
    dimensionsMap: { DBClusterIdentifier: cluster.clusterIdentifier, Role: 'WRITER' },
  });
}

/** The capacity alarm's line: 90 % of maxCapacity, in ACUs, for 15 minutes: the cluster works at
 *  its ceiling and maxCapacity is what to raise. ACUUtilization ("calculated as the value of the
 *  ServerlessDatabaseCapacity metric divided by the maximum ACU value of the DB cluster ... If this
 *  metric approaches a value of 100.0, the DB instance has scaled up as high as it can. Consider
 *  increasing the maximum ACU setting") says the same per instance, but AWS's metrics reference
 *  lists ACUUtilization among the instance-level metrics only, and the Serverless v2 page queries
 *  it by DBInstanceIdentifier; nothing documents it under DBClusterIdentifier and Role, the
 *  dimension set the alarm used before, so that alarm could watch a metric that never arrives.
 *  ServerlessDatabaseCapacity is documented at the cluster level ("As a cluster-level metric, it
 *  represents the average of the ServerlessDatabaseCapacity values of all the Aurora Serverless v2
 *  DB instances in the cluster"), and the stack's readers sit in promotion tier 0-1, which "scale
 *  to keep their capacity in synch with the writer instance": the cluster's average is the
 *  writer's capacity, whichever instance is the writer.
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.viewing.monitoring
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-multi-az */
export const ACU_UTILIZATION_HIGH = 90;

/** An AWS/RDS metric of the whole cluster (dimension DBClusterIdentifier). */
export function clusterMetric(cluster: DatabaseCluster, name: string, options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/RDS',
    metricName: name,
    ...options,
    dimensionsMap: { DBClusterIdentifier: cluster.clusterIdentifier },
  });
}

/** ACUs at ACU_UTILIZATION_HIGH % of maxCapacity. */
export function capacityThresholdAcus(maxCapacity: number): number {
  return (maxCapacity * ACU_UTILIZATION_HIGH) / 100;
}

/** What an alarm is made of (alarms.ts's AlarmSpec). */
export interface ClusterAlarm {
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly description: string;
  readonly evaluationPeriods?: number;
  readonly datapointsToAlarm?: number;
}

/** The cluster's alarms, by id: connections against max_connections and, Serverless v2, the
 *  writer at its maximum capacity. */
export function clusterAlarms(cluster: DatabaseCluster, config: StackConfig, connectionsThreshold: number): Record<string, ClusterAlarm> {
  const alarms: Record<string, ClusterAlarm> = {
    DatabaseConnections: {
      metric: writerMetric(cluster, 'DatabaseConnections', { period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: connectionsThreshold,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description:
        `writer connections reached ${connectionsThreshold} of max_connections ${config.dbMaxConnections}: ` +
        'the reserve for migrate and operators is half gone',
    },
  };
  if (config.aurora?.instanceClass === 'serverless') {
    const acus = capacityThresholdAcus(config.aurora.maxCapacity);
    alarms.DatabaseCapacity = {
      metric: clusterMetric(cluster, 'ServerlessDatabaseCapacity', { period: Duration.minutes(5), statistic: 'Average' }),
      threshold: acus,
      evaluationPeriods: 3,
      description:
        `the cluster ran at ${acus} ACUs (${ACU_UTILIZATION_HIGH} % of maxCapacity ${config.aurora.maxCapacity}) or more ` +
        'for 15 minutes: it cannot scale much further',
    };
  }
  return alarms;
}

/** The cluster's dashboard graphs: connections, capacity (Serverless v2) or CPU (provisioned). */
export function clusterGraphs(
  cluster: DatabaseCluster,
  config: StackConfig,
  connectionsThreshold: number,
  period: Duration,
): { title: string; props: Omit<cloudwatch.GraphWidgetProps, 'title'> }[] {
  const graphs: { title: string; props: Omit<cloudwatch.GraphWidgetProps, 'title'> }[] = [
    {
      title: 'Database connections (writer)',
      props: {
        left: [
          writerMetric(cluster, 'DatabaseConnections', { period: Duration.minutes(1), statistic: 'Maximum', label: 'connections' }),
        ],
        leftYAxis: { min: 0, max: config.dbMaxConnections },
        leftAnnotations: [
          { value: config.dbMaxConnections, label: 'max_connections', color: cloudwatch.Color.RED },
          { value: connectionsThreshold, label: 'DatabaseConnections alarm' },
        ],
      },
    },
    {
      title: 'Database CPU (writer)',
      props: {
        left: [writerMetric(cluster, 'CPUUtilization', { period, statistic: 'Average', label: 'CPU %' })],
        leftYAxis: { min: 0, max: 100 },
      },
    },
  ];
  const aurora = config.aurora;
  if (aurora?.instanceClass === 'serverless') {
    // ACUUtilization per instance, the dimension AWS documents it with (DBInstanceIdentifier).
    const perInstance = cluster.instanceIdentifiers.map((id, i) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName: 'ACUUtilization',
        dimensionsMap: { DBInstanceIdentifier: id },
        period,
        statistic: 'Average',
        label: i === 0 ? '% of maxCapacity (first writer)' : `% of maxCapacity (instance ${i + 1})`,
      }),
    );
    graphs.push({
      title: 'Database capacity (cluster ACUs, % of maximum per instance)',
      props: {
        left: [clusterMetric(cluster, 'ServerlessDatabaseCapacity', { period, statistic: 'Average', label: 'ACUs' })],
        leftYAxis: { min: 0, max: aurora.maxCapacity },
        leftAnnotations: [
          { value: aurora.maxCapacity, label: 'maxCapacity', color: cloudwatch.Color.RED },
          { value: capacityThresholdAcus(aurora.maxCapacity), label: 'DatabaseCapacity alarm' },
        ],
        right: perInstance,
        rightYAxis: { min: 0, max: 100 },
      },
    });
  }
  return graphs;
}
