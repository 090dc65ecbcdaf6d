"""The SQS consumer: `consumer.SqsConsumer` (verdicts, in-process retries, hand-back on
shutdown) and `message.QueueMessage`, what a handler sees of one SQS message."""
