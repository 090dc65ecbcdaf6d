"""Autoscaling between the desired count and the context's maximum."""

from __future__ import annotations


def _target(synth):
    (target,) = synth.of_type("AWS::ApplicationAutoScaling::ScalableTarget").values()
    return target["Properties"]


def _policies(synth):
    return [
        r["Properties"]
        for r in synth.of_type("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    ]


def test_task_count_scales_between_desired_and_maximum(synthesized, custom):
    assert (_target(synthesized)["MinCapacity"], _target(synthesized)["MaxCapacity"]) == (2, 6)
    assert (_target(custom)["MinCapacity"], _target(custom)["MaxCapacity"]) == (3, 8)
    assert _target(synthesized)["ScalableDimension"] == "ecs:service:DesiredCount"


def test_inbound_backlog_drives_step_scaling(synthesized):
    step_policies = [p for p in _policies(synthesized) if p["PolicyType"] == "StepScaling"]
    # CDK builds one policy per direction, each triggered by its own alarm.
    assert len(step_policies) == 2
    inbound = synthesized.logical_id(synthesized.stack.messaging.inbound.queue)
    backlog_alarms = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [inbound, "QueueName"]}
    ]
    assert len(backlog_alarms) == 2
    adjustments = sorted(
        step["ScalingAdjustment"]
        for policy in step_policies
        for step in policy["StepScalingPolicyConfiguration"]["StepAdjustments"]
    )
    assert adjustments[0] < 0 < adjustments[-1]


def test_cpu_target_tracking_complements_the_backlog(synthesized):
    (tracking,) = [p for p in _policies(synthesized) if p["PolicyType"] == "TargetTrackingScaling"]
    configuration = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert configuration["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert configuration["TargetValue"] == 60
