"""Pure transformations of text. No I/O, no clock.

- `render`: a customer's burst as the agent sees it (`render_burst`, late prefixes).
- `markdown`: the agent's Markdown to WhatsApp formatting, on markdown-it-py.
- `interactive`: Connect interactive templates to WhatsApp lists and buttons, and back.
- `split`: long texts cut at WhatsApp's limits without breaking a character.
"""
