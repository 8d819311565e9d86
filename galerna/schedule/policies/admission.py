"""Admission: which lease types the site takes at all."""
from __future__ import annotations

from galerna.config.schema import Admission
from galerna.model.lease import LeaseType

# policy -> lease types it refuses outright
REFUSED: dict[Admission, frozenset[LeaseType]] = {
    Admission.ACCEPT_ALL: frozenset(),
    Admission.NO_ARS: frozenset({LeaseType.AR}),
}
