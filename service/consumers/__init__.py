"""How records reach the bridge: SQS queues and the DynamoDB stream. No bridge logic.

- `sqs`: `SqsConsumer`, long polls, per-message verdicts, heartbeats, parking.
- `stream`: `StreamConsumer`, shard leases, checkpoints, handoff (DESIGN §4).
- `dead_letters`: the one dead-letter format (`DeadLetterQueue`, `StreamDeadLetters`).
"""
