"""`rosetta serve` as a user starts it: a real process, loopback by default, one-line errors for bad options."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from agent.server.run import free_port


def _listening_addresses(port: int) -> list[str]:
    """IPv4 addresses listening on ``port``, read from the kernel's table (state 0A is LISTEN)."""
    found = []
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if int(local_port, 16) == port and state == "0A":
            found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _rosetta(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args]


@pytest.mark.slow
def test_serve_starts_on_loopback_and_answers(tmp_path):
    port = free_port()
    env = {**os.environ, "ROSETTA_SERVER_KEYS": "sk-a, sk-b"}
    # --api-key protects the server itself, as in vLLM and llama.cpp's server (beside the environment's keys).
    process = subprocess.Popen(_rosetta("serve", "--port", str(port), "--api-key", "sk-c"), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "timeout"
                time.sleep(0.5)
        assert health["auth"] is True
        body = {"model": "rosetta", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        assert httpx.post(url, json=body, timeout=60).status_code == 401
        for key in ("sk-b", "sk-c"):
            assert httpx.post(url, headers={"Authorization": f"Bearer {key}"}, timeout=60, json=body).status_code == 200
        assert _listening_addresses(port) == ["127.0.0.1"]  # loopback only, by default
        # Rosetta's own chat against its own server, through the installed openai client (the README's pairing).
        question = "What is the capital of France? Answer in one word."
        chat = subprocess.run(_rosetta("chat", "--model", f"openai:http://127.0.0.1:{port}/v1", "--api-key", "sk-c",
                                       "--no-tools", "--no-memory", "--max-new-tokens", "8", question),
                              capture_output=True, text=True, timeout=120)
        assert chat.returncode == 0 and "Paris" in chat.stdout, chat.stderr
        refused = subprocess.run(_rosetta("chat", "--model", f"openai:http://127.0.0.1:{port}/v1", "--api-key", "wrong",
                                          "--no-tools", "--no-memory", question), capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and "refused the API key" in refused.stderr
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize("args, words", [
    (["--root", "/no/such/folder"], "is not a folder"),
    (["--port", "70000"], "--port must be"),
    (["--concurrency", "0"], "concurrency must be at least 1"),
    (["--batch", "0"], "batch must be at least 1"),
    (["--model", "nonsense:thing"], "unknown model"),
])
def test_bad_serve_options_are_one_line_errors(args, words):
    done = subprocess.run(_rosetta("serve", *args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
