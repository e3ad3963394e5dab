"""vmsbridge: turns campus VMS and device events into incidents, evidence and Clery records."""

__version__ = "0.1.0"
