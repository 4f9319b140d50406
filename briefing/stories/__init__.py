"""Which articles tell the same event: a signature per article (`signature`, from the
names and numbers of `names`) and the rule that assigns an article to a story
(`assign`); which stories a target wants, by its keyword filters (`filters`); and
whether sources that joined a story say anything new (`novelty`).

May import `text`.
"""
