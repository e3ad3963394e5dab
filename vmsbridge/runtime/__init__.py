"""Building and running the bridge: the composition root.

:func:`build_bridge` is the one place the whole bridge is built; :func:`running_services` runs its
core stages alone, and :func:`running_import` only the storing path (``events import``).
"""

from vmsbridge.runtime.bridge import Bridge, build_bridge, work_dir_for
from vmsbridge.runtime.core import ImportServices, Services, running_import, running_services
from vmsbridge.runtime.options import BridgeOptions, RestartPolicy
from vmsbridge.runtime.rules import load_rules, reload_from
from vmsbridge.runtime.supervisor import Supervisor

__all__ = [
    "Bridge",
    "BridgeOptions",
    "ImportServices",
    "RestartPolicy",
    "Services",
    "Supervisor",
    "build_bridge",
    "load_rules",
    "reload_from",
    "running_import",
    "running_services",
    "work_dir_for",
]
