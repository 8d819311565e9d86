"""What ``galerna serve --opennebula URL`` adds to ``serve``: the daemon's Service in OpenNebula mode."""
from __future__ import annotations

import logging

import typer

from galerna.daemon.settings import Settings
from galerna.opennebula.client import OneCallError
from galerna.opennebula.credentials import CredentialsError, install_secret_filter, load_credentials, safe_url


def opennebula_service(settings: Settings, url: str):  # noqa: ANN201 - an OpenNebulaService
    """Credentials found, every log handler scrubbing the secret, oned's hosts read; a clear error otherwise."""
    from galerna.opennebula.daemon import build_service

    try:
        creds = load_credentials(settings.config.opennebula)
    except CredentialsError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2)
    install_secret_filter(creds)
    try:
        service = build_service(settings, url or None, credentials=creds)
    except (OneCallError, RuntimeError) as e:
        typer.echo(f"OpenNebula at {safe_url(url) or 'the default endpoint'}: {creds.redact(str(e))}", err=True)
        raise typer.Exit(2)
    logging.getLogger("galerna.opennebula").info(
        "OpenNebula mode", extra={"endpoint": safe_url(service.mode.endpoint), "user": creds.user,
                                  "hosts": [h.name for h in service.settings.enactment.hosts]})
    return service
