"""Which articles tell the same event: a signature per article (`signature`, from the
names and numbers of `names`) and the rule that assigns an article to a story
(`assign`); and which stories a target wants, by its keyword filters (`filters`).

May import `text`.
"""
