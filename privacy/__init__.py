"""Privacy masks and people/face anonymization. Standalone: never imports ``vmsbridge`` (issue #5)."""
