"""The only bridge code that calls AWS; every botocore error is translated at this edge
by `service.aws_errors`.

- `connect_chat`: `ConnectChat`, chats and the customer participant; `connection`:
  `ChatConnection`, the one reconnect after AccessDenied.
- `connect_config`: `ConnectConfigStore`, the instance and flow per business number.
- `whatsapp`: `WhatsAppClient`, SendWhatsAppMessage.
- `voice`: `BridgeVoice`, the bridge's own CUSTOM_BOT participant (every agent note).
- `media`: `MediaForwarder`, agent files to WhatsApp; `inbound_media`, customer files
  staged in S3; `media_convert`, conversions Connect needs; `transcribe`, Transcribe jobs.
- `sessions`: `SessionStore`, customer ↔ chat; `ledger`: `DeliveryLedger`, what was
  delivered; `claims`: `SendClaims`, at most one send per agent item;
  `raw_messages`: the raw-messages table, both directions, per customer key.
"""
