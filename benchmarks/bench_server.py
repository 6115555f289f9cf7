"""The server under load on loopback, with and without continuous batching, and what the HTTP layer costs.

For each ``--batch`` setting (1: one request decodes at a time, the rest queue; 16: up to 16 decode together)
starts `rosetta serve` (the embedded default) in its own process, then for each client count runs that many
clients for ``--seconds``, each sending streamed chats back to back, alternating text and image questions:
requests/s and completion tokens/s, time to first token and total latency (p50/p99), errors, and the server's
peak memory. The settings run one after the other on the same machine, so their ratios compare like with like.
Then one client against the Python API in this process, request for request (same prompts, greedy, same token
counts), interleaved so both see the same machine: the HTTP layer's share of the latency, as a ratio.
Prints a table; writes docs/server_bench.json.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_server.py [--batch 1 16] [--clients 1 4 16] [--seconds 60] [--overhead 20]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUESTIONS = ["What is the capital of France?", "Name three fruits.", "What colour is the sky?", "Say hello in Spanish.",
             "What is two plus two?", "Give me a word that rhymes with cat."]
IMAGE_QUESTIONS = ["What is in this picture?", "Describe the image.", "What colour is the shape?"]
COLOURS = ["red", "blue", "green", "orange", "purple"]
MAX_TOKENS = 32


def picture_url(index: int) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 96), "whitesmoke")
    ImageDraw.Draw(image).ellipse((20, 20, 76, 76), fill=COLOURS[index % len(COLOURS)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def request_body(index: int, max_tokens: int = MAX_TOKENS) -> dict:
    """Alternating text and image chats, all different (no two prompts repeat back to back)."""
    if index % 2:
        question = IMAGE_QUESTIONS[index // 2 % len(IMAGE_QUESTIONS)]
        content = [{"type": "image_url", "image_url": {"url": picture_url(index)}}, {"type": "text", "text": question}]
    else:
        content = QUESTIONS[index // 2 % len(QUESTIONS)]
    return {"model": "rosetta", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}


def timed_request(client: httpx.Client, body: dict) -> tuple[float, float, int]:
    """(time to first token, total seconds, completion tokens) of one streamed chat; raises on any error."""
    started = time.perf_counter()
    first, tokens = None, 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.read()[:200]!r}")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return first or time.perf_counter() - started, time.perf_counter() - started, tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(url: str, clients: int, seconds: float, pid: int, max_tokens: int) -> dict:
    ttft, total, errors, finished_at, tokens = [], [], [], [], []
    started = time.monotonic()
    stop = started + seconds
    counter = iter(range(10**9))
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=600) as client:
            while time.monotonic() < stop:
                with lock:
                    index = next(counter)
                try:
                    first, whole, count = timed_request(client, request_body(index, max_tokens))
                    with lock:
                        ttft.append(first)
                        total.append(whole)
                        finished_at.append(time.monotonic())
                        tokens.append(count)
                except Exception as error:  # counted, never fatal: the figure is how many there were
                    with lock:
                        errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Throughput over the window only; latencies of every request, the ones still queued at the end included.
    in_window = [count for moment, count in zip(finished_at, tokens) if moment <= stop]
    return {
        "clients": clients, "seconds": seconds, "requests": len(total), "errors": len(errors),
        "error_examples": errors[:3], "requests_per_s": round(len(in_window) / seconds, 3),
        "tokens_per_s": round(sum(in_window) / seconds, 2),
        "ttft_p50_s": round(percentile(ttft, 0.5), 3), "ttft_p99_s": round(percentile(ttft, 0.99), 3),
        "latency_p50_s": round(percentile(total, 0.5), 3), "latency_p99_s": round(percentile(total, 0.99), 3),
        "server_peak_rss_mib": round(peak_memory_mib(pid), 1),
    }


def overhead(url: str, count: int, max_tokens: int) -> dict:
    """One client: HTTP vs the Python API, same requests, interleaved (direct, HTTP, direct, HTTP...)."""
    from agent.formats.openai_json import from_openai
    from agent.models.base import GenerationOptions
    from agent.models.embedded import load_embedded_model

    model = load_embedded_model(progress=False)
    options = GenerationOptions(max_new_tokens=max_tokens)
    direct = {"ttft": [], "total": []}
    http = {"ttft": [], "total": []}
    same_tokens = 0
    with httpx.Client(base_url=url, timeout=600) as client:
        for index in range(2):  # warm both sides (first image, first prompt shapes)
            timed_request(client, request_body(index, max_tokens))
            model.chat(from_openai(request_body(index, max_tokens)["messages"]), options=options)
        for index in range(count):
            body = request_body(index, max_tokens)
            started = time.perf_counter()
            stream = model.stream(from_openai(body["messages"]), options=options)  # decoding the data: URL included
            first = None
            for piece in stream:
                if piece:
                    first = first or time.perf_counter() - started
            reply = stream.result()
            direct["total"].append(time.perf_counter() - started)
            direct["ttft"].append(first or direct["total"][-1])
            first_http, total_http, _ = timed_request(client, body)
            http["ttft"].append(first_http)
            http["total"].append(total_http)
            usage = client.post("/v1/chat/completions", json={**body, "stream": False, "max_tokens": max_tokens}).json()["usage"]
            same_tokens += usage["completion_tokens"] == reply.usage.completion_tokens
    med = statistics.median
    return {
        "requests": count, "same_token_counts": same_tokens,
        "direct_ttft_p50_s": round(med(direct["ttft"]), 3), "http_ttft_p50_s": round(med(http["ttft"]), 3),
        "direct_latency_p50_s": round(med(direct["total"]), 3), "http_latency_p50_s": round(med(http["total"]), 3),
        "latency_ratio_http_over_direct": round(med(http["total"]) / med(direct["total"]), 4),
        "ttft_ratio_http_over_direct": round(med(http["ttft"]) / med(direct["ttft"]), 4),
        # Per request, so the noise of one slow request does not decide it.
        "latency_ratio_of_pairs_p50": round(med([h / d for h, d in zip(http["total"], direct["total"])]), 4),
    }


def start_server(batch: int, max_tokens: int) -> tuple[subprocess.Popen, str]:
    from agent.server.run import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "agent.cli", "serve", "--port", str(port), "--queue-size", "64",
                               "--batch", str(batch)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while True:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit("the server did not start")
            time.sleep(0.5)
    with httpx.Client(base_url=url, timeout=600) as client:  # warm-up: first image, first prompt
        for index in range(3):
            timed_request(client, request_body(index, max_tokens))
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16], help="server --batch settings to compare")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--overhead", type=int, default=20, help="requests for the HTTP-vs-Python comparison, on the "
                        "first --batch setting's server (0: skip)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help=f"completion tokens a request asks for (default: {MAX_TOKENS})")
    parser.add_argument("--out", default=str(ROOT / "docs" / "server_bench.json"))
    args = parser.parse_args()

    runs: dict[int, list[dict]] = {}
    compared = None
    for batch in args.batch:
        server, url = start_server(batch, args.max_tokens)
        try:
            runs[batch] = []
            for clients in args.clients:
                runs[batch].append(load(url, clients, args.seconds, server.pid, args.max_tokens))
                row = runs[batch][-1]
                print(f"batch {batch:>2}, {clients:>3} clients: {row['requests_per_s']:.2f} req/s, {row['tokens_per_s']:.1f} tok/s, "
                      f"TTFT p50 {row['ttft_p50_s']:.2f} s p99 {row['ttft_p99_s']:.2f} s, latency p50 {row['latency_p50_s']:.2f} s "
                      f"p99 {row['latency_p99_s']:.2f} s, errors {row['errors']}, server peak {row['server_peak_rss_mib']:.0f} MiB",
                      flush=True)
            if args.overhead and compared is None:
                compared = overhead(url, args.overhead, args.max_tokens)
                print(f"one client, {compared['requests']} requests: latency p50 HTTP {compared['http_latency_p50_s']:.3f} s vs "
                      f"Python API {compared['direct_latency_p50_s']:.3f} s -> ratio {compared['latency_ratio_http_over_direct']:.3f} "
                      f"(per-pair median {compared['latency_ratio_of_pairs_p50']:.3f}); TTFT ratio {compared['ttft_ratio_http_over_direct']:.3f}; "
                      f"same token counts {compared['same_token_counts']}/{compared['requests']}")
        finally:
            server.terminate()
            server.wait(30)
    scaling = {}
    for batch, rows in runs.items():  # throughput at each client count over one client's, per setting
        one = rows[0]["tokens_per_s"] if rows and rows[0]["clients"] == 1 else None
        scaling[batch] = {row["clients"]: round(row["tokens_per_s"] / one, 2) for row in rows} if one else {}
        print(f"batch {batch:>2}: tokens/s over one client's: {scaling[batch]}")
    import torch

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "max_tokens": args.max_tokens, "load": {str(batch): rows for batch, rows in runs.items()},
        "throughput_over_one_client": {str(batch): value for batch, value in scaling.items()}, "overhead": compared,
        "command": "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_server.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
