"""Raw configuration data to ``Config``, with pydantic's complaints as ``section.key: problem`` lines."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from galerna.config.errors import ConfigError
from galerna.config.schema import Config


def validate(data: dict[str, Any], source: Path | None, overridden: set[str] = frozenset()) -> Config:
    """``Config`` from raw data, with pydantic's complaints rewritten as ConfigError lines."""
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = [str(x) for x in err["loc"]]
            dotted = ".".join(loc)
            if err["type"] == "extra_forbidden":
                valid = _fields_at(loc[:-1])
                kind = "section" if len(loc) == 1 else "option"
                what = f"unknown {kind} (valid: {', '.join(valid)})"
            else:
                what = f"{err['msg']} (got {err.get('input')!r})"
            origin = " (from --set)" if any(k == dotted or k.startswith(dotted + ".") for k in overridden) else ""
            problems.append(f"{dotted or '(top level)'}: {what}{origin}")
        raise ConfigError(source, problems) from None


def _fields_at(loc: list[str]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc:
        f = model.model_fields.get(part)
        ann = getattr(f, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)
