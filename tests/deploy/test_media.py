"""The media bucket: private, encrypted, TLS only, expiring, access-logged."""

from __future__ import annotations

from aws_cdk.assertions import Match

from service.resources import MEDIA_EXPIRY_DAYS
from tests.deploy.cfn import statements


def _bucket(synth):
    logical_id = synth.logical_id(synth.stack.media.media)
    return logical_id, synth.resources[logical_id]["Properties"]


def test_media_bucket_is_encrypted_private_and_expires_objects(synthesized):
    _, bucket = _bucket(synthesized)
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert [rule["ExpirationInDays"] for rule in rules] == [MEDIA_EXPIRY_DAYS]
    assert rules[0]["Status"] == "Enabled"
    # Single-use copies: no versioning keeping personal data past the expiry.
    assert "VersioningConfiguration" not in bucket
    # No physical name: bucket names are global.
    assert "BucketName" not in bucket


def test_media_bucket_refuses_plain_http_and_old_tls(synthesized):
    logical_id, _ = _bucket(synthesized)
    (policy,) = (
        resource["Properties"]["PolicyDocument"]
        for resource in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == {"Ref": logical_id}
    )
    denials = [s["Condition"] for s in statements(policy) if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in denials
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in denials


def test_media_access_is_logged_to_a_private_bucket(synthesized):
    _, bucket = _bucket(synthesized)
    logs_id = synthesized.logical_id(synthesized.stack.media.access_logs)
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    synthesized.assertions.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
            "LifecycleConfiguration": {"Rules": [Match.object_like({"ExpirationInDays": 90})]},
        },
    )
