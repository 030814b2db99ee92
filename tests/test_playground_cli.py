"""``mlplab playground``: serves on loopback by default, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from mlplab.playground_core import LIMITS
from tests.conftest import SRC, run_cli

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_says_loopback_and_limits():
    result = run_cli("playground", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "default 127.0.0.1: this machine only" in text
    limits = LIMITS
    assert (
        f"{limits['hidden_layers']} hidden layers of at most {limits['units']} units"
        in text
    )
    assert f"{limits['points']} points, {limits['epochs']} epochs" in text
    assert f"{limits['seeds']} seeds" in text
    assert f"<= {limits['seed_steps']:,} for a multi-seed run" in text


def test_a_port_in_use_is_a_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run_cli("playground", "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"mlplab: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    result = run_cli("playground", "--port", "70000", timeout=60)
    assert result.returncode == 2
    assert "--port must be in 0..65535; got 70000" in result.stderr


@pytest.mark.slow
def test_serves_the_page_on_loopback_until_interrupted():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlplab", "playground", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        expected = f"mlplab playground on http://127.0.0.1:{port}/ (loopback only"
        assert line.startswith(expected)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "/api/options", timeout=5) as r:
                    options = json.load(r)
                break
            except OSError:
                time.sleep(0.1)
        assert options["presets"]["original"]["style"] == "ema"
        with urllib.request.urlopen(url + "/", timeout=5) as r:
            assert b"mlplab playground" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
