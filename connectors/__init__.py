"""Device and VMS connectors. Each subpackage owns one protocol: client, parsing and emulator.

The core (``vmsbridge``) never imports a connector by name; connectors are built from site
configuration by a registry and speak to the core through the small protocols in
``vmsbridge.sources``.
"""
