"""The ``vmsbridge`` command line: each command module parses little, calls a service, formats.

Building the parser imports every command module (and every connector plug-in's), so at module
level they import only the standard library and the light helpers in ``cli.common``; a handler
imports the services it calls, and even ``asyncio``, when it runs. That keeps ``vmsbridge --help``
and argument errors fast (``tests/plugins/test_registry.py`` checks what building the parser loads).
"""
