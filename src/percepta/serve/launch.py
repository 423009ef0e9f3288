"""Run ``percepta serve`` in a child process on a free loopback port: for the browser test, the load test and
the README's screenshot, which all want the real server (uvicorn, the CLI's flags), not an in-process app."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``percepta serve``: its base URL, its process, and the file its log goes to."""

    url: str
    process: subprocess.Popen
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()


@contextlib.contextmanager
def running_server(*flags: str, startup_timeout: float = 60.0, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``percepta serve --host 127.0.0.1 --port FREE FLAGS...`` until the block ends (then stopped with SIGTERM,
    SIGKILL after 10 s). Waits for ``/healthz`` to answer; raises RuntimeError with the log if it does not."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w+b", prefix="percepta-serve-", suffix=".log", delete=False) as log_file:
        log_path = log_file.name
    command = [sys.executable, "-m", "percepta", "serve", "--host", "127.0.0.1", "--port", str(port), *flags]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"percepta serve exited with {process.returncode}:\n{server.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"percepta serve: no answer within {startup_timeout:g} s:\n{server.log()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            os.unlink(log_path)
