"""From a story to checked briefs: engines propose (`engines`), `citations` checks every
quote character for character against its source, `grounding` checks every point against
the source sentences it cites, `checks` cuts a brief to its limits, and
`pipeline.summarise` ties them into a `Result` (`models`).

May import `llm`, `stories`, `sources`, `text`, `config`, `errors`.
"""
