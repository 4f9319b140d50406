"""RSS/Atom feeds: parse a feed (`parse`), turn its HTML into text (`text`), canonical
entry URLs (`urls`), one conditional poll with its state (`poll`) and OPML subscription
lists (`opml`).

May import `sources.fetch`, `sources.load`, `text`, `config`, `errors`.
"""
