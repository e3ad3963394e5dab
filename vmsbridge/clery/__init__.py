"""Clery Act records: the business-day calendar, crime and fire logs, ASR statistics, timely warnings and
emergency notifications (CAP), and the public exports."""
