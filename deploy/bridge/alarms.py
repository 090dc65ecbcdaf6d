"""CloudWatch alarms on what means a customer or an agent is waiting, and where they go."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from deploy.bridge.messaging import CLOUDWATCH_PRINCIPAL, Messaging, allow_publish, encrypted_topic
from service.cloudwatch_metrics import DIMENSION, NAMESPACE

ITERATOR_AGE_METRIC = "StreamIteratorAgeSeconds"
ERROR_LOG_METRIC = "ErrorLogCount"
# The stream consumer polls every second or so: a minute behind for five minutes means a
# shard nobody reads (lost lease, stuck task) and customers waiting on their answer.
ITERATOR_AGE_LIMIT_S = 60
ITERATOR_AGE_MINUTES = 5
# Inbound work is a parse and a DynamoDB write; five minutes of age is a backlog.
OLDEST_INBOUND_LIMIT_S = 300
ERROR_PERIOD = Duration.minutes(5)
ERROR_PERIODS = 3


@dataclass(frozen=True, slots=True)
class Alarms:
    topic: sns.Topic
    error_filter: logs.MetricFilter
    alarms: dict[str, cloudwatch.Alarm]


def error_log_filter(scope: Construct, log_group: logs.ILogGroup) -> logs.MetricFilter:
    # structlog's JSON lines carry `"level": "error"` (lower case) for error and exception.
    return logs.MetricFilter(
        scope,
        "ErrorLogFilter",
        log_group=log_group,
        filter_pattern=logs.FilterPattern.string_value("$.level", "=", "error"),
        metric_namespace=NAMESPACE,
        metric_name=ERROR_LOG_METRIC,
        metric_value="1",
        # Zero on every ingested line that is not an error: the alarm sees a rate, not gaps.
        default_value=0,
    )


def iterator_age_metric(name_prefix: str) -> cloudwatch.Metric:
    # The bridge publishes it itself, as Embedded Metric Format lines on stdout
    # (service/cloudwatch_metrics.py).
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=ITERATOR_AGE_METRIC,
        dimensions_map={DIMENSION: name_prefix},
        statistic=cloudwatch.Stats.MAXIMUM,
        period=Duration.minutes(1),
    )


def create_alarms(
    scope: Construct,
    *,
    name_prefix: str,
    messaging: Messaging,
    log_group: logs.ILogGroup,
    alarm_email: str | None,
    error_threshold: int,
) -> Alarms:
    topic = encrypted_topic(scope, "AlarmTopic", name=None, key=messaging.key)
    allow_publish(
        topic,
        sid="CloudWatchAlarmsPublish",
        principal=CLOUDWATCH_PRINCIPAL,
        conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
    )
    if alarm_email is not None:
        topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
    error_filter = error_log_filter(scope, log_group)
    one_minute = Duration.minutes(1)
    quiet = cloudwatch.TreatMissingData.NOT_BREACHING
    definitions: dict[
        str, tuple[cloudwatch.Metric, float, int, str, cloudwatch.TreatMissingData]
    ] = {
        "inbound-dlq": (
            messaging.inbound.dlq.metric_approximate_number_of_messages_visible(
                period=one_minute, statistic=cloudwatch.Stats.MAXIMUM
            ),
            0,
            1,
            "WhatsApp messages were parked in the inbound dead-letter queue",
            quiet,
        ),
        "outbound-dlq": (
            messaging.outbound.dlq.metric_approximate_number_of_messages_visible(
                period=one_minute, statistic=cloudwatch.Stats.MAXIMUM
            ),
            0,
            1,
            "Connect events were parked in the outbound dead-letter queue",
            quiet,
        ),
        "stream-iterator-age": (
            iterator_age_metric(name_prefix),
            ITERATOR_AGE_LIMIT_S,
            ITERATOR_AGE_MINUTES,
            (
                "The bridge reads the raw-messages stream more than a minute behind, or no "
                "task reports reading it at all"
            ),
            # Every task holding a shard reports the age each minute, 0 when idle; silence
            # means no task reads the stream (all stopped or crash-looping), so it alarms.
            cloudwatch.TreatMissingData.BREACHING,
        ),
        "error-logs": (
            error_filter.metric(statistic=cloudwatch.Stats.SUM, period=ERROR_PERIOD),
            error_threshold,
            ERROR_PERIODS,
            "The bridge keeps logging errors",
            quiet,
        ),
        "inbound-oldest-message": (
            messaging.inbound.queue.metric_approximate_age_of_oldest_message(
                period=one_minute, statistic=cloudwatch.Stats.MAXIMUM
            ),
            OLDEST_INBOUND_LIMIT_S,
            5,
            "Inbound WhatsApp events wait in the queue for minutes",
            quiet,
        ),
    }
    alarms: dict[str, cloudwatch.Alarm] = {}
    action = actions.SnsAction(topic)
    # No data from the queues and the error filter is a quiet system, not a fault.
    for suffix, (metric, threshold, periods, description, missing) in definitions.items():
        alarm = metric.create_alarm(
            scope,
            f"Alarm-{suffix}",
            alarm_name=f"{name_prefix}-{suffix}",
            alarm_description=description,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        alarms[suffix] = alarm
    return Alarms(topic=topic, error_filter=error_filter, alarms=alarms)
