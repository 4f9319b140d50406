"""Follow-up questions about a story: passage retrieval (`retrieval`, BM25), the answer
prompt and its parsing (`drafting`), and checked answers (`answer`).

May import `briefs`, `llm`, `sources`, `text`, `config`, `errors`.
"""
