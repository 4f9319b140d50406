"""The long-running service: ingestion, story store, summaries, digests, delivery."""
