"""The DynamoDB stream consumer with shard leases (DESIGN §4, reference stream-consumer.md).

`consumer.StreamConsumer` runs it; `leases`/`held_lease` own the lease table,
`balancing` plans who takes what, `shards` discovers the shard tree, `reader` and
`shard_session` read one shard, `tracker` and `records` decide checkpoints from the
handler's `Ack`s, `errors` are its typed failures.
"""
