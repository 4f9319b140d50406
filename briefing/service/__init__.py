"""The long-running service: ingest from the folder and feeds, cluster into stories,
summarise pending stories, schedule digests and deliver them through the outbox; and what
readers ask for now (`on_demand`), including what a message showed them (`points`).

May import `store`, `qa`, `briefs`, `llm`, `stories`, `sources`, `text` and the base
modules; never `render`, `bot` or `cli` (channels are passed in).
"""
