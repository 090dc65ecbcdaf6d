"""Topics, queues, dead-letter queues and subscriptions, from the shared specs."""

from __future__ import annotations

from aws_cdk.assertions import Match

from service.resources import MAX_RECEIVE_COUNT, OUTBOUND_FILTER_POLICY, PARK_AFTER_RECEIVES
from tests.deploy.cfn import as_list, referenced_id, statements


def _queue_id(synth, name):
    (found,) = (
        logical_id
        for logical_id, resource in synth.of_type("AWS::SQS::Queue").items()
        if resource["Properties"]["QueueName"] == name
    )
    return found


def _topic_id(synth, name):
    (found,) = (
        logical_id
        for logical_id, resource in synth.of_type("AWS::SNS::Topic").items()
        if resource["Properties"].get("TopicName") == name
    )
    return found


def _subscription(synth, queue_name):
    queue_id = _queue_id(synth, queue_name)
    (found,) = (
        resource["Properties"]
        for resource in synth.of_type("AWS::SNS::Subscription").values()
        if resource["Properties"]["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    )
    return found


def test_each_queue_redrives_to_its_own_dlq_after_max_receive_count(synthesized):
    for spec in synthesized.stack.plan.queues:
        dlq_id = _queue_id(synthesized, spec.dlq_name)
        synthesized.assertions.has_resource_properties(
            "AWS::SQS::Queue",
            {
                "QueueName": spec.name,
                "VisibilityTimeout": spec.visibility_timeout_s,
                "MessageRetentionPeriod": spec.retention_s,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                },
            },
        )
        synthesized.assertions.has_resource_properties(
            "AWS::SQS::Queue",
            {"QueueName": spec.dlq_name, "MessageRetentionPeriod": spec.dlq_retention_s},
        )
    assert MAX_RECEIVE_COUNT == 10
    assert PARK_AFTER_RECEIVES < MAX_RECEIVE_COUNT, "the bridge parks, with a reason, first"


def test_queues_are_encrypted_and_refuse_plain_http(synthesized):
    queues = synthesized.of_type("AWS::SQS::Queue")
    assert len(queues) == 4
    for logical_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        synthesized.assertions.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": logical_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_inbound_subscription_keeps_the_envelope_and_filters_nothing(synthesized):
    plan = synthesized.stack.plan
    subscription = _subscription(synthesized, plan.inbound_queue.name)
    assert subscription["Protocol"] == "sqs"
    assert subscription["TopicArn"] == {"Ref": _topic_id(synthesized, plan.inbound_topic)}
    assert subscription.get("RawMessageDelivery", False) is False
    assert "FilterPolicy" not in subscription


def test_outbound_subscription_filters_exactly_customer_visible_events(synthesized):
    plan = synthesized.stack.plan
    subscription = _subscription(synthesized, plan.outbound_queue.name)
    assert subscription["TopicArn"] == {"Ref": _topic_id(synthesized, plan.outbound_topic)}
    assert subscription["FilterPolicy"] == OUTBOUND_FILTER_POLICY
    assert subscription.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    assert subscription.get("RawMessageDelivery", False) is False


def test_topics_are_encrypted_with_a_rotated_customer_key(synthesized):
    (key_id,) = synthesized.of_type("AWS::KMS::Key")
    assert synthesized.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    topics = synthesized.of_type("AWS::SNS::Topic")
    assert len(topics) == 3  # inbound, outbound, alarms
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def _topic_policy(synth, topic_id):
    (document,) = (
        resource["Properties"]["PolicyDocument"]
        for resource in synth.of_type("AWS::SNS::TopicPolicy").values()
        if resource["Properties"]["Topics"] == [{"Ref": topic_id}]
    )
    return statements(document)


def _publishers(policy):
    return {
        statement["Principal"]["Service"]: statement.get("Condition", {})
        for statement in policy
        if statement["Effect"] == "Allow"
    }


def test_topic_policies_let_only_the_publishing_service_of_this_account_in(synthesized):
    plan = synthesized.stack.plan
    account = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    inbound = _topic_policy(synthesized, _topic_id(synthesized, plan.inbound_topic))
    outbound = _topic_policy(synthesized, _topic_id(synthesized, plan.outbound_topic))
    assert _publishers(inbound) == {"social-messaging.amazonaws.com": account}
    # Without a real instance id in the context, only the account is pinned.
    assert _publishers(outbound) == {"connect.amazonaws.com": account}
    for policy in (inbound, outbound):
        allow = [s for s in policy if s["Effect"] == "Allow"]
        assert all(as_list(s["Action"]) == ["sns:Publish"] for s in allow)
        deny = [s for s in policy if s["Effect"] == "Deny"]
        assert deny
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_connect_publishing_is_pinned_to_the_instance_named_in_context(custom):
    plan = custom.stack.plan
    outbound = _topic_policy(custom, _topic_id(custom, plan.outbound_topic))
    conditions = _publishers(outbound)["connect.amazonaws.com"]
    assert conditions["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    instance_arn = conditions["ArnEquals"]["aws:SourceArn"]
    assert "instance/11111111-2222-3333-4444-555555555555" in str(instance_arn)


def test_the_topic_key_lets_the_publishing_services_encrypt(synthesized):
    (key,) = synthesized.of_type("AWS::KMS::Key").values()
    grants = {
        statement["Principal"]["Service"]: statement
        for statement in statements(key["Properties"]["KeyPolicy"])
        if "Service" in statement.get("Principal", {})
    }
    assert set(grants) == {
        "social-messaging.amazonaws.com",
        "connect.amazonaws.com",
        "cloudwatch.amazonaws.com",
    }
    for statement in grants.values():
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"}
        }


def test_subscriptions_deliver_from_the_topic_the_spec_names(synthesized):
    for spec in (
        synthesized.stack.plan.inbound_subscription,
        synthesized.stack.plan.outbound_subscription,
    ):
        subscription = _subscription(synthesized, spec.queue)
        assert referenced_id(subscription["TopicArn"]) == (
            _topic_id(synthesized, spec.topic),
            "Ref",
        )
