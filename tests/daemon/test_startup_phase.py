"""Behind a listening port, the daemon answers 503 "starting" until its rebuild and reconciliation are done
(issue 17 §2), then serves; health says which phase it is in. In process: a real uvicorn on a bound socket, a real
Service on SQLite whose start (rebuild, reconcile) is held until the test lets it go."""
from __future__ import annotations

import threading

import httpx
import uvicorn

from galerna.api.app import create_app
from galerna.api.startup import Startup
from galerna.daemon.service import Service
from galerna.daemon.settings import DaemonConfig, Settings
from galerna.store.db import Store
from galerna.store.ownership import ownership_for
from tests.daemon.conftest import bound_socket
from tests.helpers import wait_until


class HeldService(Service):
    """A real service whose start-up waits for ``go`` first: the test looks at the API meanwhile."""

    go = threading.Event()

    def start(self) -> None:
        self.go.wait(60)
        super().start()


def test_api_answers_starting_until_the_start_up_is_done(tmp_path):
    settings = Settings(daemon=DaemonConfig(db=f"sqlite:///{tmp_path / 'g.db'}", enact=False, log_json=False))
    store = Store(settings.daemon.db)
    token = store.create_token("admin", admin=True)[1]
    own = ownership_for(settings.daemon.db)
    assert own.try_acquire()
    startup = Startup(settings, own, background=True)
    app = create_app(settings, store=store, service=HeldService(store, settings), startup=startup)
    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_until(lambda: server.started, 30, "the server")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "cpu": 1, "memory": 16})
            assert r.status_code == 503 and "starting" in r.json()["detail"], r.text
            assert r.headers["Retry-After"] == "1"
            h = c.get("/v1/health")
            assert h.status_code == 503 and h.json()["status"] == "starting" and h.json()["role"] == "starting"
            HeldService.go.set()
            wait_until(lambda: c.get("/v1/health").status_code == 200, 30, "the start-up")
            assert c.get("/v1/health").json()["role"] == "active"
            r = c.post("/v1/leases", json={"type": "best_effort", "duration": 60, "cpu": 1, "memory": 16})
            assert r.status_code == 201, r.text
    finally:
        HeldService.go.set()
        server.should_exit = True
        thread.join(30)
        sock.close()
        store.close()
    assert not own.held  # released at shutdown
