"""Device and VMS connectors. Each subpackage owns one protocol: client, parsing and emulator.

The core (``vmsbridge``) never imports a connector by name: each subpackage's ``plugin`` module is
an entry point in the ``vmsbridge.connectors`` group (see ``vmsbridge.plugins``), and connectors
speak to the core through the small protocols in ``vmsbridge.sources`` and ``vmsbridge.controls``.
"""
