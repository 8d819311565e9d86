"""The CLI client checks a lease request against the same bounds as the daemon (galerna/model/bounds.py) before it
sends anything: the same value gets the same words, naming the field. No server here: a request that were sent
would fail to connect (exit 3), so exit 2 with the bound's message shows it was refused first."""
from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from galerna.client.command import register

app = typer.Typer()


@app.callback()
def _main() -> None:
    pass


register(app)
ENV = {"GALERNA_URL": "http://127.0.0.1:9", "GALERNA_TOKEN": "t"}


@pytest.mark.parametrize("args, needle", [
    (["-d", "100000000:00:00"], "duration: must be at most"),
    (["-d", "0"], "duration: must be greater than 0"),
    (["-d", "01:00:00", "-t", "9999-01-01T00:00:00"], "start: must be between 2000-01-01 and 2200-01-01"),
    (["-d", "01:00:00", "-t", "+100000000:00:00"], "start: must be between 2000-01-01 and 2200-01-01"),
    (["-d", "01:00:00", "-n", "1000000"], "n_nodes: must be between 1 and 1024"),
    (["-d", "01:00:00", "-c", "nan"], "cpu: must be a finite number"),
    (["-d", "01:00:00", "-m", "0"], "memory: must be greater than 0"),
    (["-d", "01:00:00", "--name", "bell\x07"], "name: must not contain control characters"),
    (["-d", "01:00:00", "--deadline", "2999-01-01T00:00:00"], "deadline: must be between"),
])
def test_out_of_bounds_requests_are_refused_before_sending(args, needle):
    r = CliRunner().invoke(app, ["lease", "request", *args], env=ENV)
    assert r.exit_code == 2, r.output
    assert needle in r.output
