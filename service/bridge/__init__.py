"""The bridge: what WhatsApp and Connect mean to each other, with no queue or server in it.

Layers (DESIGN §3, enforced by import-linter): `flows` compose `adapters`, `text` and
`policy`, which all stand on `events`. Nothing here imports `service.consumers`; the
consumers' types satisfy the small Protocols of `events.transport`, and `service.app`
wires the two together.
"""
