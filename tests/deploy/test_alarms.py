"""Alarms on parked messages, stream lag, error logs and inbound backlog."""

from __future__ import annotations

from deploy.bridge.alarms import ERROR_LOG_METRIC, ITERATOR_AGE_METRIC
from service.cloudwatch_metrics import DIMENSION, NAMESPACE
from tests.deploy.cfn import statements


def _alarms(synth):
    return {
        resource["Properties"]["AlarmName"]: resource["Properties"]
        for resource in synth.of_type("AWS::CloudWatch::Alarm").values()
        if "AlarmName" in resource["Properties"]
    }


def _alarm_topic(synth):
    return {"Ref": synth.logical_id(synth.stack.alarms.topic)}


def test_each_dead_letter_queue_alarms_on_its_first_message(synthesized):
    alarms = _alarms(synthesized)
    for name, queue in (
        ("wa-bridge-inbound-dlq", synthesized.stack.messaging.inbound.dlq),
        ("wa-bridge-outbound-dlq", synthesized.stack.messaging.outbound.dlq),
    ):
        alarm = alarms[name]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"] == [
            {
                "Name": "QueueName",
                "Value": {"Fn::GetAtt": [synthesized.logical_id(queue), "QueueName"]},
            }
        ]
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["EvaluationPeriods"] == 1


def test_stream_iterator_age_alarms_after_five_minutes_over_a_minute(synthesized, custom):
    for synth, prefix in ((synthesized, "wa-bridge"), (custom, "acme-wa")):
        alarm = _alarms(synth)[f"{prefix}-stream-iterator-age"]
        assert alarm["Namespace"] == NAMESPACE == "WhatsAppConnectBridge"
        assert alarm["MetricName"] == ITERATOR_AGE_METRIC == "StreamIteratorAgeSeconds"
        # The dimension the bridge's EMF lines carry: its BRIDGE_NAME_PREFIX.
        assert alarm["Dimensions"] == [{"Name": DIMENSION, "Value": prefix}]
        assert alarm["Statistic"] == "Maximum"
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 300
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
        assert alarm["Threshold"] == 60
        # Silence means no task reads the stream: that must alarm, not look healthy.
        assert alarm["TreatMissingData"] == "breaching"


def test_error_log_lines_become_a_metric_with_a_sustained_rate_alarm(synthesized):
    (metric_filter,) = synthesized.of_type("AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    log_group = synthesized.logical_id(synthesized.stack.compute.log_group)
    assert properties["LogGroupName"] == {"Ref": log_group}
    assert properties["FilterPattern"] == '{ $.level = "error" }'
    (transformation,) = properties["MetricTransformations"]
    assert transformation["MetricNamespace"] == NAMESPACE
    assert transformation["MetricName"] == ERROR_LOG_METRIC == "ErrorLogCount"
    assert transformation["MetricValue"] == "1"
    alarm = _alarms(synthesized)["wa-bridge-error-logs"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, ERROR_LOG_METRIC)
    assert alarm["Statistic"] == "Sum"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] > 1


def test_inbound_queue_age_alarms(synthesized):
    alarm = _alarms(synthesized)["wa-bridge-inbound-oldest-message"]
    inbound = synthesized.logical_id(synthesized.stack.messaging.inbound.queue)
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [inbound, "QueueName"]}


def test_every_alarm_notifies_the_alarm_topic_which_cloudwatch_may_publish_to(synthesized):
    alarms = _alarms(synthesized)
    assert len(alarms) == 5
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [_alarm_topic(synthesized)]
        assert alarm["OKActions"] == [_alarm_topic(synthesized)]
    (policy,) = (
        r["Properties"]["PolicyDocument"]
        for r in synthesized.of_type("AWS::SNS::TopicPolicy").values()
        if r["Properties"]["Topics"] == [_alarm_topic(synthesized)]
    )
    allowed = [s["Principal"] for s in statements(policy) if s["Effect"] == "Allow"]
    assert allowed == [{"Service": "cloudwatch.amazonaws.com"}]


def test_alarm_email_from_context_subscribes_to_the_alarm_topic(synthesized, custom):
    assert not [
        s
        for s in synthesized.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    ]
    (email,) = (
        s["Properties"]
        for s in custom.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    )
    assert email["Endpoint"] == "oncall@example.com"
    assert email["TopicArn"] == _alarm_topic(custom)
