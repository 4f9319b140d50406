"""Text primitives every stage shares: words and folding, sentences and their numbering,
tokens, language, dates, quotation marks, numbers as values, stems.

Owns no state and knows nothing of articles or briefs. May import only the standard
library, third-party text libraries and `briefing.errors`.
"""
