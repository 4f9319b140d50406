"""From a story to checked briefs: engines propose (`engines`), `citations` checks every
quote character for character against its source, `checks` drops points with numbers or
names the sources lack, and `pipeline.summarise` ties them into a `Result` (`models`).

May import `llm`, `stories`, `sources`, `text`, `config`, `errors`.
"""
