"""Clery Act records: the institution's business-day calendar (more of issue #7 to come)."""
