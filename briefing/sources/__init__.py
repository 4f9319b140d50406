"""Where articles come from: fetching URLs (and, later, feeds and pages)."""
