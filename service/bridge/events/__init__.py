"""What arrives, typed: the model and the parsers of the wire formats. No I/O.

- `whatsapp`: inbound messages and statuses (`InboundMessage`, `MessageType`, payloads).
- `eum`: `parse_eum_event`, End User Messaging Social's SNS envelope to that model.
- `connect`: Connect streaming items (`MessageEvent`, `AttachmentEvent`, ... `AgentItem`).
- `content_types`: the one set of Connect content types.
- `codec`: the compact storage form of a parsed message.
- `transport`: the Protocols a consumer's records satisfy (`QueueItem`, `StreamItem`,
  `Acknowledgement`) and the one per-record `Outcome` (`Settle`, `retry`, `park`).
"""
