"""``summarizer bench``: speed and memory figures, with the naive baseline measured in the same run.

The baseline is the same model reading the same article window with the same prompt, asked to
write the JSON itself with plain ``model.generate`` (no skeleton, no constraint, greedy). The
ratio naive/ours is what the speed target is about; absolute seconds depend on the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
import torch

from service.article import Article, Layout
from service.backends.local.backend import LocalBackend
from service.schemas import SummaryRequest
from service.summarizer import Summarizer
from service.tools.evaluation import article_request
from service.tools.subprocess_server import serve_in_subprocess


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    generated_tokens: list[int] = field(default_factory=list)
    scored_tokens: list[int] = field(default_factory=list)

    def p(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def requests_from(rows: Iterable[dict]) -> list[SummaryRequest]:
    """Benchmark articles: gold-file rows as the eval sends them, plain rows (BBC) as title + text."""
    return [
        article_request(row) if "description" in row else SummaryRequest(text=row["text"], title=row.get("title"))
        for row in rows
    ]


def ours(summarizer: Summarizer, requests: list[SummaryRequest]) -> Timing:
    timing = Timing()
    for request in requests:
        started = time.perf_counter()
        summary = summarizer.summarize(request)
        timing.seconds.append(time.perf_counter() - started)
        timing.prompt_tokens.append(summary.usage["prompt_tokens"])
        timing.generated_tokens.append(summary.usage["generated_tokens"])
        timing.scored_tokens.append(summary.usage.get("scored_tokens", 0))
    return timing


def naive(summarizer: Summarizer, requests: list[SummaryRequest], max_new_tokens: int = 256) -> Timing:
    """Plain generation of the whole JSON answer, over the same window and prompt."""
    backend = summarizer.backend
    if not isinstance(backend, LocalBackend):
        raise ValueError("the naive baseline runs the local model: bench needs SUMMARIZER_BACKEND=local")
    model, tokenizer = backend.loaded.model, backend.tokenizer
    timing = Timing()
    for request in requests:
        published = request.published_at.isoformat()[:10] if request.published_at else None
        article = Article(text=request.text, title=request.title, published=published)
        layout = Layout.of(article, backend.window_chars(request.text), backend.prompts)
        prompt = backend.prompts.conversation(layout.user, tokenizer)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids.to(backend.loaded.device)
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
        timing.seconds.append(time.perf_counter() - started)
        timing.prompt_tokens.append(ids.shape[1])
        timing.generated_tokens.append(output.shape[1] - ids.shape[1])
    return timing


def served(requests: list[SummaryRequest], clients: int) -> tuple[float, Throughput, Throughput, Throughput]:
    """Start `summarizer serve` and measure, through HTTP: cold start (process start to ready,
    converted weights cached), then throughput with one client, with ``clients`` clients, and
    with all the articles in one request to the batch endpoint."""
    bodies = [request.model_dump(mode="json", exclude_none=True) for request in requests]
    # A long deadline: this measures throughput, and admission would refuse work on a busy machine.
    env = {"SUMMARIZER_MAX_QUEUE": str(4 * clients), "SUMMARIZER_REQUEST_TIMEOUT_S": "600"}
    with serve_in_subprocess(env=env, timeout_s=300) as server:

        async def rate(concurrency: int) -> Throughput:
            pending = list(bodies)
            latencies: list[float] = []
            async with httpx.AsyncClient(timeout=600) as http:
                async def client() -> None:
                    while pending:
                        sent = time.perf_counter()
                        response = await http.post(f"{server.url}/v1/summaries", json=pending.pop())
                        response.raise_for_status()
                        latencies.append(time.perf_counter() - sent)

                begin = time.perf_counter()
                await asyncio.gather(*(client() for _ in range(concurrency)))
                return Throughput(len(bodies) / (time.perf_counter() - begin), max(latencies))

        async def batch() -> Throughput:
            """One POST /v1/summaries:batch of every article; the slowest is the time to the last line."""
            begin = time.perf_counter()
            done = 0
            async with httpx.AsyncClient(timeout=600) as http:
                async with http.stream("POST", f"{server.url}/v1/summaries:batch", json=bodies) as response:
                    response.raise_for_status()
                    async for line in response.aiter_lines():
                        if line.strip():
                            if json.loads(line)["status"] != 200:
                                raise RuntimeError(f"a batch article failed: {line[:300]}")
                            done += 1
            elapsed = time.perf_counter() - begin
            return Throughput(done / elapsed, elapsed)

        return server.ready_after_s, asyncio.run(rate(1)), asyncio.run(rate(clients)), asyncio.run(batch())


@dataclass
class Throughput:
    articles_per_s: float
    slowest_s: float  # the longest any one request took: a starved request would show here


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(summarizer: Summarizer, requests: list[SummaryRequest], naive_count: int, clients: int) -> list[str]:
    lines = [f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
             f"load average {os.getloadavg()[0]:.2f} at start; model {summarizer.model_name}"]
    ours(summarizer, requests[:1])  # warm-up: first-call allocations are not what a server sees
    timing = ours(summarizer, requests)
    lines += [
        f"ours   ({len(timing.seconds)} articles, in process): p50 {timing.p(0.5):.2f} s, p95 {timing.p(0.95):.2f} s, "
        f"{len(timing.seconds) / sum(timing.seconds):.2f} articles/s, "
        f"prompt tokens {statistics.mean(timing.prompt_tokens):.0f}, generated {statistics.mean(timing.generated_tokens):.0f}, "
        f"candidate tokens scored {statistics.mean(timing.scored_tokens):.0f} per article",
    ]
    if naive_count:
        subset = requests[:naive_count]
        baseline = naive(summarizer, subset)
        same = timing.seconds[: len(subset)]
        lines.append(
            f"naive  ({len(subset)} articles, in process): p50 {baseline.p(0.5):.2f} s, "
            f"prompt tokens {statistics.mean(baseline.prompt_tokens):.0f}, generated {statistics.mean(baseline.generated_tokens):.0f} per article; "
            f"naive/ours on the same articles: {statistics.median(baseline.seconds) / statistics.median(same):.1f}x (medians)"
        )
    lines.append(f"peak RSS of this process: {peak_rss_mb():.0f} MB")
    cold, one, many, batch = served(requests, clients)
    lines.append(f"served over HTTP: cold start {cold:.1f} s (process start to ready, converted weights cached)")
    lines.append(
        f"served over HTTP: 1 client {one.articles_per_s:.2f} articles/s (slowest request {one.slowest_s:.1f} s), "
        f"{clients} clients {many.articles_per_s:.2f} articles/s (slowest request {many.slowest_s:.1f} s) "
        f"= {many.articles_per_s / one.articles_per_s:.2f}x"
    )
    lines.append(
        f"served over HTTP: batch endpoint (all {len(requests)} articles in one POST /v1/summaries:batch) "
        f"{batch.articles_per_s:.2f} articles/s (last line after {batch.slowest_s:.1f} s) "
        f"= {batch.articles_per_s / one.articles_per_s:.2f}x one request at a time"
    )
    lines.append(f"load average at end {os.getloadavg()[0]:.2f}")
    return lines
