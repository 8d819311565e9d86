"""The ``[api]`` configuration section: the daemon's limits per request and per event stream, so that one client
cannot starve the others. The simulator ignores it."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class ApiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(MIB, ge=1024, le=1024 * MIB,
                                description="largest request body; a larger one is answered 413 as it streams in")
    max_streams: int = Field(512, ge=1, description="open /v1/events streams in all; past it, 503")
    max_streams_per_token: int = Field(16, ge=1, description="open /v1/events streams of one token; past it, 429")
    stream_backlog: int = Field(1000, ge=1, description="events a stream may fall behind by before it is dropped")
    stream_send_timeout: float = Field(10.0, gt=0, description="seconds a stream's reader may stall one write "
                                                               "before the stream is dropped")
