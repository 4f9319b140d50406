"""Follow-up questions about a story: passage retrieval (`retrieval`, BM25), which story
a question is about (`choice`), the answer prompt and its parsing (`drafting`), and
checked answers (`answer`).

May import `briefs`, `llm`, `sources`, `text`, `config`, `errors`.
"""
