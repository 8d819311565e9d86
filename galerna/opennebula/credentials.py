"""OpenNebula credentials and endpoints, found the way OpenNebula's own tools find them.

The session secret is held in a pydantic ``SecretStr`` so that reprs, logs
and tracebacks of the object show ``**********``; :func:`redact` and
:class:`SecretFilter` scrub it from any text that may carry it anyway (an
error message echoing a request, a log line).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from galerna.config.opennebula import OpenNebulaConfig

DEFAULT_XMLRPC = "http://localhost:2633/RPC2"
DEFAULT_ZMQ = "tcp://localhost:2101"
SYSTEM_AUTH = Path("/var/lib/one/.one/one_auth")
MASK = "***"


class CredentialsError(RuntimeError):
    """No usable credentials: the message names the files tried, never their content."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: SecretStr
    source: str  # the file (or "config") it came from

    @property
    def session(self) -> str:
        """What every XML-RPC call sends first: ``user:password``."""
        return f"{self.user}:{self.password.get_secret_value()}"

    def secrets(self) -> tuple[str, ...]:
        return (self.session, self.password.get_secret_value())

    def redact(self, text: str) -> str:
        return redact(text, self.secrets())

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=SecretStr('**********'), source={self.source!r})"

    __str__ = __repr__


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``***``."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


def parse_one_auth(text: str, source: str) -> Credentials:
    """The first non-empty line of a ONE_AUTH file: ``user:password`` (the password may hold colons)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    user, sep, password = line.partition(":")
    if not sep or not user or not password:
        raise CredentialsError(f"{source}: expected one line 'user:password'")
    return Credentials(user, SecretStr(password), source)


def auth_candidates(config: OpenNebulaConfig, env: Mapping[str, str] | None = None,
                    home: Path | None = None) -> list[Path]:
    """Where credentials are looked for, in order (OpenNebula's Ruby OCA order)."""
    env = os.environ if env is None else env
    if config.auth_file:
        return [Path(config.auth_file).expanduser()]
    out = []
    if env.get("ONE_AUTH"):
        out.append(Path(env["ONE_AUTH"]).expanduser())
    out.append((home or Path.home()) / ".one" / "one_auth")
    out.append(SYSTEM_AUTH)
    return out


def load_credentials(config: OpenNebulaConfig, env: Mapping[str, str] | None = None,
                     home: Path | None = None) -> Credentials:
    """Credentials from the first readable candidate file; an error names every file tried."""
    tried = []
    for path in auth_candidates(config, env, home):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            tried.append(f"{path} (missing)")
            continue
        except OSError as e:
            tried.append(f"{path} ({e.strerror or type(e).__name__})")
            continue
        return parse_one_auth(text, str(path))
    raise CredentialsError("no OpenNebula credentials: tried " + ", ".join(tried)
                           + "; set [opennebula] auth_file or $ONE_AUTH")


def xmlrpc_endpoint(config: OpenNebulaConfig, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return config.endpoint or env.get("ONE_XMLRPC") or DEFAULT_XMLRPC


def zmq_endpoint(config: OpenNebulaConfig, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return config.zmq_endpoint or env.get("ONE_ZMQ") or DEFAULT_ZMQ


def safe_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{MASK}@{host}", parts.path, parts.query, parts.fragment))


class SecretFilter(logging.Filter):
    """A handler filter that scrubs secrets from every record's message (args are merged first)."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg, self.secrets)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if redact(text, self.secrets) != text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
                record.exc_info = None
        return True


def install_secret_filter(credentials: Credentials) -> SecretFilter:
    """Put a :class:`SecretFilter` on every handler of the root logger."""
    f = SecretFilter(credentials.secrets())
    for h in logging.getLogger().handlers:
        h.addFilter(f)
    return f
