"""`briefing eval`: brief quality, citation accuracy and cost on a corpus, for any engine.

- `corpus.py` reads a folder of articles or a JSONL file into items;
- `runner.py` runs the real pipeline on each item, concurrently, never stopping on one;
- `signals.py`, `rouge.py` and `judge.py` measure one article's briefs; `points.py` lists
  its points as the check left them (delivered or rejected), for the judge and the report;
- `cache.py` keeps every LLM answer in a file so an interrupted run resumes for free;
- `summary.py` adds the articles up; `report.py` and `chart.py` present the figures.
"""
