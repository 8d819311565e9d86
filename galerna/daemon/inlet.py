"""The daemon's own check of a lease request against the bounds, for every caller of ``Service.submit`` (the REST
API, Haizea's XML-RPC, OpenNebula mode): whatever a door checked or missed, nothing outside them is queued."""
from __future__ import annotations

from typing import Any, Mapping

from galerna.model.bounds import LeaseBounds, OutOfBounds, check_lease

from galerna.daemon.errors import ErrorKind, Refused


def check_request(b: LeaseBounds, request: Mapping[str, Any]) -> None:
    """:class:`Refused` (invalid, with the field) for a request outside ``b``."""
    image = request.get("image")
    try:
        check_lease(b, duration=request.get("duration"), nodes=request.get("nodes"), start=request.get("start"),
                    deadline=request.get("deadline"), name=request.get("name"), tenant=request.get("tenant"),
                    image_id=getattr(image, "id", None), image_size=getattr(image, "size_mb", None))
    except OutOfBounds as e:
        raise Refused(str(e), ErrorKind.INVALID, field=e.field) from None
    if not isinstance(request.get("preemptible", True), bool):
        raise Refused("preemptible: must be true or false", ErrorKind.INVALID, field="preemptible")
