"""The bootstrap creates every resource of the plan, exactly as specified, idempotently."""

import json

from service.aws import AwsClients
from service.local.bootstrap import BootstrapClients, bootstrap
from service.resources import OUTBOUND_FILTER_POLICY


async def test_tables_have_the_specified_keys_streams_and_ttl(resources, aws_clients):
    for spec in resources.plan.tables:
        table = (await aws_clients.dynamodb.describe_table(TableName=spec.name))["Table"]
        keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
        assert keys[spec.partition_key.name] == "HASH"
        if spec.sort_key is not None:
            assert keys[spec.sort_key.name] == "RANGE"
        ttl = await aws_clients.dynamodb.describe_time_to_live(TableName=spec.name)
        assert ttl["TimeToLiveDescription"]["AttributeName"] == spec.ttl_attribute
    raw = (await aws_clients.dynamodb.describe_table(TableName=resources.names.raw_table))["Table"]
    assert raw["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert resources.created.stream_arn == raw["LatestStreamArn"]


async def test_queues_redrive_to_their_dead_letter_queues(resources, aws_clients):
    for spec in resources.plan.queues:
        attrs = (
            await aws_clients.sqs.get_queue_attributes(
                QueueUrl=resources.queue_url(spec.name), AttributeNames=["All"]
            )
        )["Attributes"]
        redrive = json.loads(attrs["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == resources.created.queue_arns[spec.dlq_name]
        assert int(redrive["maxReceiveCount"]) >= 3
        assert attrs["VisibilityTimeout"] == str(spec.visibility_timeout_s)


async def test_outbound_subscription_keeps_only_customer_visible_events(resources, aws_clients):
    sqs, sns = aws_clients.sqs, aws_clients.sns
    for visibility in ("AGENT", "ALL", "CUSTOMER"):
        await sns.publish(
            TopicArn=resources.outbound_topic_arn,
            Message=json.dumps({"v": visibility}),
            MessageAttributes={
                "MessageVisibility": {"DataType": "String", "StringValue": visibility}
            },
        )
    received = await sqs.receive_message(
        QueueUrl=resources.queue_url(resources.names.outbound_queue), MaxNumberOfMessages=10
    )
    seen = sorted(json.loads(json.loads(m["Body"])["Message"])["v"] for m in received["Messages"])
    assert seen == sorted(OUTBOUND_FILTER_POLICY["MessageVisibility"])


async def test_inbound_topic_delivers_sns_envelopes_to_the_inbound_queue(resources, aws_clients):
    await aws_clients.sns.publish(TopicArn=resources.inbound_topic_arn, Message='{"hello": 1}')
    received = await aws_clients.sqs.receive_message(
        QueueUrl=resources.queue_url(resources.names.inbound_queue), WaitTimeSeconds=1
    )
    envelope = json.loads(received["Messages"][0]["Body"])
    assert envelope["Type"] == "Notification"
    assert json.loads(envelope["Message"]) == {"hello": 1}


async def test_parameters_hold_connect_config_and_inbound_topic(resources, aws_clients):
    config = await aws_clients.ssm.get_parameter(Name=resources.names.connect_config_parameter)
    assert set(json.loads(config["Parameter"]["Value"])) >= {
        "instance_id",
        "contact_flow_id",
        "chat_duration_minutes",
        "ignore_reactions",
        "ignore_stickers",
    }
    topic = await aws_clients.ssm.get_parameter(Name=resources.names.inbound_topic_parameter)
    assert topic["Parameter"]["Value"] == resources.inbound_topic_arn


async def test_running_twice_changes_nothing_and_keeps_operator_edits(
    resources, aws_clients: AwsClients
):
    ssm = aws_clients.ssm
    name = resources.names.connect_config_parameter
    await ssm.put_parameter(
        Name=name, Value='{"instance_id": "edited"}', Type="String", Overwrite=True
    )
    c = aws_clients
    again = await bootstrap(
        BootstrapClients(dynamodb=c.dynamodb, sqs=c.sqs, sns=c.sns, s3=c.s3, ssm=c.ssm),
        resources.plan,
    )
    assert again.queue_urls == resources.created.queue_urls
    assert again.topic_arns == resources.created.topic_arns
    subs = await c.sns.list_subscriptions()
    assert len(subs["Subscriptions"]) == 2
    assert (await ssm.get_parameter(Name=name))["Parameter"]["Value"] == '{"instance_id": "edited"}'


async def test_media_bucket_expires_objects(resources, aws_clients):
    rules = await aws_clients.s3.get_bucket_lifecycle_configuration(
        Bucket=resources.names.media_bucket
    )
    assert rules["Rules"][0]["Expiration"]["Days"] == resources.plan.media_bucket.expiry_days
