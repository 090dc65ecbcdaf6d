"""The use cases, composed from adapters, text and policy through `ports` Protocols.

- `intake`: `InboundQueueHandler`, EUM events from SQS into the raw-messages table.
- `deliver`: `InboundDelivery`, one burst into one Connect message, exactly once.
- `outbound`: `OutboundRouter`, Connect items from SQS onto the customer's stream key.
- `reply`: `AgentReplies`, an agent's item to WhatsApp (text, attachment, typing, end).
- `status`: `StatusFeedback`, WhatsApp's delivery failures told to the agent.
- `receipts`: `CustomerReceipts`, read receipts both ways.
- `chat_admin`: `ChatAdmin`, what the admin API may do to a chat.
- `attach` and `voice_notes`: a customer's file as a chat attachment, a voice note's
  transcript in the background; `amend` (edits, deletions), `identity` (a changed number),
  `order_gate` (is an earlier agent message still on its way?).
"""
