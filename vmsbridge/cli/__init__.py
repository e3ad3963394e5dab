"""The ``vmsbridge`` command line: each command module parses little, calls a service, formats."""
