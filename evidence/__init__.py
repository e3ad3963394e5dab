"""Evidence hashing, content-addressed store, custody chain and BagIt packets (issue #6).

Standalone: never imports ``vmsbridge``.
"""
