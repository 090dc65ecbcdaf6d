"""Task autoscaling: on the inbound backlog (step scaling) and on CPU (target tracking)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs

CPU_TARGET_PERCENT = 60
# Messages waiting in the inbound queue. Each task writes a message to DynamoDB in a few
# milliseconds, so a backlog in the hundreds means the tasks cannot keep up.
BACKLOG_STEPS = (
    autoscaling.ScalingInterval(upper=10, change=-1),
    autoscaling.ScalingInterval(lower=200, change=+1),
    autoscaling.ScalingInterval(lower=2000, change=+2),
)


def backlog_metric(queue: sqs.IQueue) -> cloudwatch.Metric:
    return queue.metric_approximate_number_of_messages_visible(
        period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
    )


def add_autoscaling(
    service: ecs.FargateService, *, inbound_queue: sqs.IQueue, min_tasks: int, max_tasks: int
) -> ecs.ScalableTaskCount:
    scaling = service.auto_scale_task_count(min_capacity=min_tasks, max_capacity=max_tasks)
    scaling.scale_on_metric(
        "InboundBacklog",
        metric=backlog_metric(inbound_queue),
        scaling_steps=list(BACKLOG_STEPS),
        adjustment_type=autoscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=Duration.minutes(3),
        evaluation_periods=2,
    )
    # Buffering and Connect calls are CPU work too; the backlog alone would not see a task
    # saturated by many concurrent customers.
    scaling.scale_on_cpu_utilization(
        "Cpu",
        target_utilization_percent=CPU_TARGET_PERCENT,
        scale_in_cooldown=Duration.minutes(5),
        scale_out_cooldown=Duration.minutes(1),
    )
    return scaling
