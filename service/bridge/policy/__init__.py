"""In-memory decisions, on one injected clock and one token bucket.

- `buffer`: `CustomerBuffer`, each customer's burst held until a quiet window.
- `lanes`: `AgentLanes`, each customer's agent items sent one at a time, in order.
- `conversations`: `Conversations`, the stream handler that feeds both, per shard.
- `pacing`: `Pacer`, WhatsApp's per-pair pacing.
- `ratelimit`: `ConnectRateLimits`, Connect's per-operation quotas.
- `token_bucket`: `TokenBucket`, the one bucket under both.
"""
