"""Servers as child processes on free loopback ports (`summarizer serve`, and the llama.cpp server
the 'openai' backend is tested against), for benchmarks, the load test and end-to-end tests:
the one way this project starts a real server from Python."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    ready_after_s: float  # process start to the first 200 from /readyz


@contextmanager
def serve_in_subprocess(
    env: dict[str, str] | None = None, timeout_s: float = 180, output: int | None = subprocess.DEVNULL
) -> Iterator[RunningServer]:
    """Start `summarizer serve`, wait until /readyz answers 200, stop it on exit."""
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with run_until_ready(command, f"http://127.0.0.1:{port}", "/readyz", env, timeout_s, output) as running:
        yield running


@contextmanager
def run_until_ready(
    command: list[str],
    url: str,
    ready_path: str,
    env: dict[str, str] | None = None,
    timeout_s: float = 180,
    output: int | None = subprocess.DEVNULL,
) -> Iterator[RunningServer]:
    """Start a server process, wait until ``url + ready_path`` answers 200, stop it on exit."""
    name = " ".join(command[:3])
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=output, stderr=subprocess.STDOUT if output == subprocess.PIPE else output,
        env=os.environ | (env or {}),
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`{name}` exited with {process.returncode} before it was ready")
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"`{name}` was not ready after {timeout_s:g} s")
            try:
                if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield RunningServer(url, process, time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=30)
