"""What Galerna schedules: lease requests, the site they run on, lease states."""
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.model.site import Host, Site
from galerna.model.state import IllegalTransition, LeaseState, check_transition

__all__ = [
    "DiskImage",
    "Host",
    "IllegalTransition",
    "LeaseRequest",
    "LeaseState",
    "LeaseType",
    "Site",
    "check_transition",
]
