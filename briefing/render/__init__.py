"""Renderers: typed briefs, quotes and digests in, strings out: Telegram HTML
(`telegram`), the terminal (`terminal`), plain text (`text`), the answer to `/why`
(`tracing`: a point's source sentences), and the labels they share;
and the file channel (`file_channel`), which delivers digests as plain text.

May import `service` (digest items), `briefs`, `sources`, `text`.
"""
