"""Alarm rules: declarative triggers from the site file, and the actions they run concurrently."""
