"""The daemon's configuration: Galerna's TOML file plus ``[daemon]`` and ``[enactment]`` sections.

```toml
[daemon]
host = "127.0.0.1"
port = 7070
db = "sqlite:////var/lib/galerna/galerna.db"   # or postgresql+psycopg://user:pw@host/db
ending_soon_minutes = 10      # SSE "lease.ending_soon" this long before a run's planned end
decision_timeout = 10         # seconds an API call waits for the scheduler's decision
enact = true                  # false: plan only, touch no hypervisor
data_dir = ""                 # default: the user's data directory
xmlrpc = false                # true: Haizea's XML-RPC interface at xmlrpc_path ("/RPC2"), token needed
sqlite_synchronous = "NORMAL" # SQLite: NORMAL survives kill -9 of the daemon; FULL also a power loss (slower)
test_uri_dir = ""             # test:/// hosts added by POST /v1/hosts: node files under it only; "" = <data_dir>/test-hosts
max_lease_duration = 315360000  # longest run a lease may ask for, seconds (default and ceiling: ten years)
max_lease_nodes = 1024        # most VMs in one lease (default and ceiling)

[enactment]                   # see docs/enactment.md; no hosts = four libvirt test-driver hosts
[scheduling]                  # the same options as the simulator
```
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from galerna.config.load import ConfigError, validate
from galerna.config.schema import Config
from galerna.enact.config import EnactmentConfig
from galerna.model import bounds


class DaemonConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(7070, ge=0, le=65535)
    db: str | None = Field(None, description="SQLAlchemy URL; default SQLite under the user's data directory")
    ending_soon_minutes: float = Field(10.0, ge=0)
    decision_timeout: float = Field(10.0, gt=0)
    enact: bool = True
    data_dir: str = ""
    test_hosts: int = Field(4, ge=1, description="libvirt test-driver hosts when [enactment] lists none")
    log_json: bool = True
    xmlrpc: bool = Field(False, description="also serve Haizea's XML-RPC interface (token needed)")
    xmlrpc_path: str = Field("/RPC2", pattern=r"^/[A-Za-z0-9_/-]*$")
    test_uri_dir: str = Field("", description="test:/// hosts added at run time must be node files under it "
                                             "(or test:///default); empty = <data_dir>/test-hosts")
    max_lease_duration: float = Field(bounds.MAX_DURATION, gt=0, le=bounds.MAX_DURATION,
                                      description="longest run a lease may ask for, seconds (at most ten years)")
    max_lease_nodes: int = Field(bounds.MAX_NODES, ge=1, le=bounds.MAX_NODES, description="most VMs in one lease")
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL", description="SQLite (WAL) commits: NORMAL survives a killed process, FULL also a power loss")
    standby: bool = Field(False, description="wait for the database's lock instead of exiting when another daemon "
                                             "holds it, and take over when that one dies")
    advertise: str = Field("", description="the URL clients reach this daemon at (default http://HOST:PORT)")


    def lease_bounds(self) -> bounds.LeaseBounds:
        """The bounds every inlet checks a lease request against."""
        return bounds.LeaseBounds(max_duration=self.max_lease_duration, max_nodes=self.max_lease_nodes)


class Settings(BaseModel):
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    enactment: EnactmentConfig = Field(default_factory=lambda: EnactmentConfig(data_dir=""))
    config: Config = Field(default_factory=Config)


def load_settings(path: str | Path | None) -> Settings:
    if path is None:
        return Settings()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(path, [f"cannot read: {e.strerror or e}"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, [f"TOML syntax error: {e}"]) from None
    daemon = data.pop("daemon", {})
    enactment = data.pop("enactment", None)
    problems = []
    try:
        d = DaemonConfig.model_validate(daemon)
    except ValidationError as e:
        problems += [f"daemon.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
    try:
        en = EnactmentConfig.model_validate(enactment or {})
    except ValidationError as e:
        problems += [f"enactment.{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()]
    if problems:
        raise ConfigError(path, problems)
    cfg = validate(data, path)
    if enactment is None or "data_dir" not in (enactment or {}):
        en = en.model_copy(update={"data_dir": ""})
    return Settings(daemon=d, enactment=en, config=cfg)
