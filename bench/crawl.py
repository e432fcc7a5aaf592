"""Crawl benchmark: cold and warm `regent inventory` against a naive sequential crawler, as whole processes,
over plain loopback and through a proxy that adds 20 ms to every request.

    .venv/bin/python bench/crawl.py [--repositories 100] [--tags 10] [--delay-ms 20] [--repeat 3]
    .venv/bin/python bench/crawl.py --ecr [--repositories 100] [--tags 10] [--repeat 3]   (bench/crawl_ecr.py)

Prints wall time, client CPU time and CPU per request (median of --repeat runs), the CPU the servers spent
meanwhile (the registry process, and this process, which runs the latency proxy), and the speedups.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency_proxy import LatencyProxy  # noqa: E402
from bot.demo.registry_server import RegistryServer  # noqa: E402
from bot.demo.seed import seed_bulk  # noqa: E402
from bot.demo.seeder import Seeder  # noqa: E402

PYTHON = sys.executable
REGENT = [PYTHON, "-m", "bot.cli"]


@dataclass
class Run:
    wall: float
    cpu: float
    requests: int
    detail: dict[str, int]
    servers: float = 0.0  # CPU seconds of the registry and the proxy during the run


def server_cpu(registry_pid: int | None) -> float:
    """CPU seconds used so far by the registry process and by this process (the latency proxy's thread)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    if registry_pid is not None:
        fields = Path(f"/proc/{registry_pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def timed(cmd: list[str], env: dict[str, str], registry_pid: int | None) -> tuple[Run, dict[str, object]]:
    """Run a command to completion; wall time, its CPU time (user+sys), the servers' CPU, its JSON output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    servers = server_cpu(registry_pid)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    servers = server_cpu(registry_pid) - servers
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    requests = out.get("requests", {})
    detail = requests if isinstance(requests, dict) else {"total": int(requests)}
    return Run(wall, cpu, sum(detail.values()), detail, servers), out


def median_run(runs: list[Run]) -> Run:
    """The run with the median wall time."""
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def bench_network(
    url: str, label: str, repeat: int, expected_tags: int, registry_pid: int | None
) -> dict[str, Run]:
    """Naive, cold and warm crawls against one URL."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    naive_cmd = [PYTHON, str(ROOT / "bench" / "naive_crawl.py"), url]
    naive = [timed(naive_cmd, env, registry_pid)[0] for _ in range(repeat)]
    cold: list[Run] = []
    warm: list[Run] = []
    for _ in range(repeat):
        env["REGENT_STATE_DIR"] = tempfile.mkdtemp(prefix="regent-bench-")
        cmd = [*REGENT, "inventory", "--registry", url, "--json", "--no-progress"]
        run, out = timed(cmd, env, registry_pid)
        tags = out["registries"][0]["tags"]  # type: ignore[index]
        if tags != expected_tags:
            raise SystemExit(f"cold crawl saw {tags} tags, expected {expected_tags}")
        cold.append(run)
        warm.append(timed(cmd, env, registry_pid)[0])
    alone = [json.loads(run_alone(url, env)) for _ in range(repeat)]
    result = {
        "naive": median_run(naive),
        "cold": median_run(cold),
        "warm": median_run(warm),
        "alone cold": median_run([_alone_run(a["cold"]) for a in alone]),
        "alone warm": median_run([_alone_run(a["warm"]) for a in alone]),
    }
    print(f"\n{label}")
    print(
        f"  {'crawler':10} {'wall s':>8} {'cpu s':>7} {'requests':>9} {'cpu ms/req':>11}"
        f" {'servers cpu s':>14}  requests by method"
    )
    for name, run in result.items():
        per = 1000 * run.cpu / max(run.requests, 1)
        servers = f"{run.servers:14.2f}" if not name.startswith("alone") else f"{'-':>14}"
        figures = f"{run.wall:8.2f} {run.cpu:7.2f} {run.requests:9d} {per:11.2f}"
        print(f"  {name:10} {figures} {servers}  {run.detail}")
    c, w = result["cold"], result["warm"]
    print(
        f"  cold vs naive: {result['naive'].wall / c.wall:.1f}x faster;"
        f" warm/cold: {w.wall / c.wall:.2f}"
        " ('alone': crawl_registry in a process of its own, without start-up or snapshot save)"
    )
    # Crawler and servers share the machine's cores: a run takes at least all their CPU over the cores.
    cores = os.cpu_count() or 1
    print(
        f"  CPU of crawler + servers over {cores} cores: cold {(c.cpu + c.servers) / cores:.2f} s,"
        f" warm {(w.cpu + w.servers) / cores:.2f} s, ratio"
        f" {(w.cpu + w.servers) / (c.cpu + c.servers):.2f}"
    )
    return result


def _alone_run(figures: list[float]) -> Run:
    wall, cpu, requests = figures
    return Run(wall, cpu, int(requests), {"total": int(requests)})


def run_alone(url: str, env: dict[str, str]) -> str:
    """The crawl alone, cold then warm, in a process of its own; its JSON line."""
    cmd = [PYTHON, str(Path(__file__).resolve()), "--alone", url]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"crawl alone failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def crawl_alone(url: str) -> None:
    """Time crawl_registry in this process, cold then warm (default workers, a cache in a temporary
    directory): the crawl's own CPU per request, without interpreter start-up, the CLI's imports or the
    snapshot save."""
    from diskcache import Cache

    from tools.inventory.crawl import crawl_registry
    from tools.inventory.models import RegistryInventory, RegistrySource
    from tools.registry.client import RegistryClient
    from tools.registry.http import pooled_client

    out: dict[str, tuple[float, float, int]] = {}
    previous: RegistryInventory | None = None
    with pooled_client(connections=24) as http, Cache(tempfile.mkdtemp(prefix="regent-alone-")) as cache:
        for label in ("cold", "warm"):
            client = RegistryClient(url, http=http, cache=cache)
            usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            inventory = crawl_registry(
                client,
                RegistrySource(name="bench", url=url),
                previous=previous.tags if previous else None,
                known=previous.manifests if previous else None,
            )
            wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
            out[label] = (wall, cpu, sum(client.requests.values()))
            previous = inventory
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--alone", metavar="URL", help=argparse.SUPPRESS)  # the child of run_alone
    parser.add_argument("--ecr", action="store_true", help="the ECR adapter vs v2 only on moto (#13)")
    args = parser.parse_args()
    if args.alone:
        crawl_alone(args.alone)
        return
    if args.ecr:
        from bench.crawl_ecr import run as run_ecr

        run_ecr(args.repositories, args.tags, args.repeat)
        return
    with RegistryServer() as registry:
        start = time.perf_counter()
        with Seeder(registry.url) as seeder:
            seed_bulk(seeder, repositories=args.repositories, tags_per_repository=args.tags)
            expected = seeder.expected()
        print(
            f"seeded {expected.repositories} repositories, {expected.tags} tags,"
            f" {expected.manifests} manifests, {expected.stored_bytes} bytes"
            f" in {time.perf_counter() - start:.1f} s; {os.cpu_count()} CPUs"
        )
        bench_network(registry.url, "plain loopback", args.repeat, expected.tags, registry.pid)
        with LatencyProxy(registry.host, delay=args.delay_ms / 1000) as proxy:
            bench_network(
                proxy.url,
                f"through a proxy adding {args.delay_ms:.0f} ms per request",
                args.repeat,
                expected.tags,
                registry.pid,
            )


if __name__ == "__main__":
    main()
