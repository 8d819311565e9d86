"""List caps checked before the items are validated: pydantic's ``max_length`` on a list is checked only after
the items it has read, so a request with 10^6 nodes cost seconds of validation before it was refused."""
from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def at_most(n: int) -> BeforeValidator:
    """A validator that refuses a list (or tuple) of more than ``n`` items by its length alone."""

    def check(v: Any) -> Any:
        if isinstance(v, (list, tuple)) and len(v) > n:
            raise PydanticCustomError("too_long", "List should have at most {max_length} items, not {actual_length}",
                                      {"max_length": n, "actual_length": len(v)})
        return v

    return BeforeValidator(check)
