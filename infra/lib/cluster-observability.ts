import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Duration } from 'aws-cdk-lib';
import type { StackConfig } from './config';
import type { DatabaseCluster } from './database-cluster';

// The Aurora cluster's alarms and dashboard widgets. "For Aurora, use WRITER or READER role
// metrics to set up alarms instead of relying on metrics for specific DB instances. Aurora DB
// instance roles can change roles over time": every metric here is the writer's, by the
// DBClusterIdentifier and Role dimensions.
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

/** ACUUtilization ("calculated as the value of the ServerlessDatabaseCapacity metric divided by
 *  the maximum ACU value of the DB cluster ... If this metric approaches a value of 100.0, the DB
 *  instance has scaled up as high as it can. Consider increasing the maximum ACU setting") at or
 *  above this for 15 minutes: the writer works at its ceiling and maxCapacity is what to raise.
 *  https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2.setting-capacity.html#aurora-serverless-v2.viewing.monitoring */
export const ACU_UTILIZATION_HIGH = 90;

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
    alarms.DatabaseCapacity = {
      metric: writerMetric(cluster, 'ACUUtilization', { period: Duration.minutes(5), statistic: 'Average' }),
      threshold: ACU_UTILIZATION_HIGH,
      evaluationPeriods: 3,
      description:
        `the writer used ${ACU_UTILIZATION_HIGH} % or more of maxCapacity ${config.aurora.maxCapacity} ACUs for ` +
        '15 minutes: it cannot scale further',
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
    graphs.push({
      title: 'Database capacity (writer, ACUs and % of maximum)',
      props: {
        left: [writerMetric(cluster, 'ServerlessDatabaseCapacity', { period, statistic: 'Average', label: 'ACUs' })],
        leftYAxis: { min: 0, max: aurora.maxCapacity },
        leftAnnotations: [{ value: aurora.maxCapacity, label: 'maxCapacity', color: cloudwatch.Color.RED }],
        right: [writerMetric(cluster, 'ACUUtilization', { period, statistic: 'Average', label: '% of maxCapacity' })],
        rightYAxis: { min: 0, max: 100 },
        rightAnnotations: [{ value: ACU_UTILIZATION_HIGH, label: 'DatabaseCapacity alarm' }],
      },
    });
  }
  return graphs;
}
