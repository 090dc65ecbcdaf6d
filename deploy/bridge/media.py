"""The media bucket (attachments on their way between Connect and WhatsApp) and its access log."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from service.resources import BucketSpec

ACCESS_LOG_EXPIRY_DAYS = 90


@dataclass(frozen=True, slots=True)
class MediaBuckets:
    media: s3.Bucket
    access_logs: s3.Bucket


def _private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: list[s3.LifecycleRule],
    removal_policy: RemovalPolicy,
    access_logs: s3.IBucket | None = None,
) -> s3.Bucket:
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        # Objects are single-use copies under unique keys: versioning would only keep
        # customer media (personal data) around past the lifecycle expiry.
        versioned=False,
        lifecycle_rules=lifecycle_rules,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=None if access_logs is None else f"{construct_id}/",
        removal_policy=removal_policy,
    )


def create_media_buckets(scope: Construct, spec: BucketSpec, *, protect: bool) -> MediaBuckets:
    """The bucket of `spec`, without its physical name (`spec.name` is the sandbox's).

    Bucket names are global, so CloudFormation generates a unique one and the task gets it
    in BRIDGE_MEDIA_BUCKET.
    """
    removal = RemovalPolicy.RETAIN if protect else RemovalPolicy.DESTROY
    access_logs = _private_bucket(
        scope,
        "MediaAccessLogs",
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(ACCESS_LOG_EXPIRY_DAYS))],
        removal_policy=removal,
    )
    media = _private_bucket(
        scope,
        "MediaBucket",
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=Duration.days(spec.expiry_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=removal,
        # Presigned links are handed to Meta and Connect; the log shows who fetched what.
        access_logs=access_logs,
    )
    return MediaBuckets(media=media, access_logs=access_logs)
