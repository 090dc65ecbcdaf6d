"""Errors of the stream consumer, translated from botocore at the AWS boundary."""


class StreamConsumerError(Exception):
    """Base of the stream consumer's errors."""


class LeaseLostError(StreamConsumerError):
    """The lease is no longer ours: taken, handed over, deleted, or self-fenced."""


class LeaseStoreUnavailableError(StreamConsumerError):
    """The lease table did not answer (network, throttling); the write's outcome is unknown."""


class StreamUnavailableError(StreamConsumerError):
    """DynamoDB Streams did not answer a discovery call; retry at the next scan."""


class StreamThrottledError(StreamUnavailableError):
    """DynamoDB Streams refused a discovery call with LimitExceededException."""


class LeaseMissingError(LeaseLostError):
    """The lease row is gone (deleted by hand): an alarm, and the scan re-creates it."""
