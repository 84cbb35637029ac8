"""Production serving (`make serve`, scripts/serve.sh): real gunicorn web workers and timer
workers on one database answer requests, and SIGTERM stops every one of them."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(database_url: str, port: int, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["scripts/serve.sh"], cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env={**os.environ, "BIN": str(BIN), "DATABASE_URL": database_url,
                                       "PORT": str(port), **env})


def children(pid: int) -> list[tuple[int, str]]:
    """The processes of ``pid``'s session: (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != pid or int(entry.name) == pid:
                continue
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return found


def output_until(service: subprocess.Popen, wanted: dict[bytes, int], within: float = 60.0) -> bytes:
    """The service's output so far, read until each pattern has appeared as often as wanted."""
    seen = b""
    deadline = time.monotonic() + within
    while any(len(re.findall(pattern, seen)) < count for pattern, count in wanted.items()):
        ready, _, _ = select.select([service.stdout], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(service.stdout.fileno(), 65536) if ready else b""
        if not chunk:
            pytest.fail(f"the service did not print {wanted} within {within} s: {seen.decode()[-2000:]}")
        seen += chunk
    return seen


def health(port: int, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
                return response.status
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # polling another process, not controlling time
    pytest.fail("the served app did not answer /health")


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn not installed (make install)")
def test_gunicorn_workers_and_timer_workers_serve_and_stop_together(database_url):
    port = free_port()
    service = serve(database_url, port, PROPFLOW_SECRET_KEY="serve-test", WEB_WORKERS="2",
                    TIMER_WORKERS="2")
    try:
        assert health(port) == 200
        # Every long-running process set its start-up objects aside once loaded (web.serving).
        started = output_until(service, {rb"web worker ready: [1-9]\d* start-up objects frozen": 2,
                                         rb"timer worker started: [1-9]\d* start-up objects frozen": 2})
        running = children(service.pid)
        gunicorn = [pid for pid, command in running if "gunicorn" in command]
        timers = [pid for pid, command in running if "timers run" in command]
        assert len(gunicorn) == 3  # the arbiter and its two web workers
        assert len(timers) == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30) as response:
            assert response.status == 200 and b'name="csrf_token"' in response.read()
    finally:
        os.kill(service.pid, signal.SIGTERM)
        output, _ = service.communicate(timeout=60)
    output = started + output
    assert children(service.pid) == [], output.decode()  # nothing left running
    assert f"Propflow on http://127.0.0.1:{port}/".encode() in output


def test_refuses_to_serve_without_a_secret_key(database_url):
    env = {k: v for k, v in os.environ.items() if k != "PROPFLOW_SECRET_KEY"}
    env.update(BIN=str(BIN), DATABASE_URL=database_url, PORT=str(free_port()))
    done = subprocess.run(["scripts/serve.sh"], cwd=ROOT, capture_output=True, timeout=30, env=env)
    assert done.returncode != 0
    assert b"set PROPFLOW_SECRET_KEY" in done.stderr


def sign_in_attempt(port: int, opener: urllib.request.OpenerDirector) -> int:
    """One wrong-password sign-in through the real form (CSRF token and cookie included)."""
    with opener.open(f"http://127.0.0.1:{port}/login", timeout=30) as page:
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.read()).group(1)
    form = urllib.parse.urlencode({"csrf_token": token.decode(), "username": "cs_zhang",
                                   "password": "wrong"}).encode()
    try:
        with opener.open(f"http://127.0.0.1:{port}/login", data=form, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn not installed (make install)")
def test_the_sign_in_limit_is_shared_by_every_web_process(database_url):
    """Two servers (two processes, as on two hosts) on one database count the same attempts:
    ten wrong passwords spread over both, and the eleventh is refused by either."""
    ports = [free_port(), free_port()]
    services = [serve(database_url, port, PROPFLOW_SECRET_KEY="serve-test", WEB_WORKERS="1",
                      TIMER_WORKERS="0") for port in ports]
    try:
        for port in ports:
            assert health(port) == 200
        openers = {port: urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
                   for port in ports}
        statuses = [sign_in_attempt(ports[n % 2], openers[ports[n % 2]]) for n in range(10)]
        assert statuses == [401] * 10
        assert [sign_in_attempt(port, openers[port]) for port in ports] == [429, 429]
    finally:
        for service in services:
            os.kill(service.pid, signal.SIGTERM)
        for service in services:
            service.communicate(timeout=60)
