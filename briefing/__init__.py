"""briefing: French and English news briefs with machine-checked verbatim quotes."""

__version__ = "0.1.0"
