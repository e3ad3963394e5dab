"""Motion analytics on decoded luma frames. Standalone: never imports ``vmsbridge`` (issue #5)."""
