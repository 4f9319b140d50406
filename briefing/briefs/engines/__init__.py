"""Brief engines: the LLM engine (`llm`), the offline extractive engine (`extractive`, with
sentence `ranking`), and the choice between them (`select`).
"""
