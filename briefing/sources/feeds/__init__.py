"""RSS/Atom feeds: parse a feed (`parse`), turn its HTML into text (`text`), canonical
entry URLs (`urls`) and one conditional poll with its state (`poll`).

May import `sources.fetch`, `text`, `config`, `errors`.
"""
