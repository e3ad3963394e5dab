"""Moved: the bridge is built by :mod:`vmsbridge.runtime`, stores opened by :mod:`vmsbridge.store.stores`."""

from vmsbridge.runtime.core import Services, running_services
from vmsbridge.store.stores import Stores, open_store

__all__ = ["Services", "Stores", "open_store", "running_services"]
