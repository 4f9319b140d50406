"""The `briefing` command: `app` builds the Typer application from the command modules
(`summarize`, `service`, `eval`, `llm`). May import every other package.
"""
