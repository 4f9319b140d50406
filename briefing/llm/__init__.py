"""The one LLM client: structured calls with a JSON schema, the format ladder a server
accepts (`formats`), retries, usage (`usage`) and the call record (`calls`); prompts are
files filled by `prompts`, and `conversation` keeps the article as delimited data.
`check` probes a server for `briefing llm check`.

Used by briefs, questions and the judge alike. May import `sources.models`, `text`,
`config`, `errors`.
"""
