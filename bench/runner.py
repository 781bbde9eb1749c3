"""``python -m bench``: start the servers, run the selected areas, write bench/report.md and report.json.

Areas: ``unary`` (TrackInteraction), ``batch`` (TrackBatch), ``stream`` (StreamEvents), ``sync``
(throughput and end-to-end lag), ``gateway`` (HTTP), ``analytics`` (Metrics queries on demo data),
``dashboard`` (each admin dashboard page's first render in headless Chromium, on the same demo data);
``ingest`` stands for the first three. ``--only ingest,sync`` runs a subset; ``--quick`` runs each
figure once with short durations, as a smoke test.
A failing area is reported as failed and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType

from bench import analytics, dashboard, gateway, ingest, sync
from bench.context import Bench, Settings
from bench.infra import Infra, reset_streams
from bench.procs import Children, CpuMeter
from bench.results import FOREIGN_LOAD_WARNING, Area, Report, machine

#: Areas in the order they run, with their report titles.
AREAS = {
    "unary": "Ingest: TrackInteraction (unary)",
    "batch": "Ingest: TrackBatch",
    "stream": "Ingest: StreamEvents",
    "sync": "Sync: stream → Postgres",
    "gateway": "Gateway: HTTP",
    "analytics": "Metrics: analytics queries",
    "dashboard": "Dashboard: first render in Chromium",
}
#: ``--only`` names that stand for several areas.
GROUPS = {"ingest": ("unary", "batch", "stream")}

REPORT_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated areas: ingest (= unary, batch, stream), unary, batch, stream, sync, gateway, "
        "analytics, dashboard",
    )
    parser.add_argument("--quick", action="store_true", help="short runs, each figure once (smoke test)")
    parser.add_argument(
        "--output", type=Path, default=REPORT_DIR, help="folder for report.md and report.json"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    parser.add_argument(
        "--analytics-sessions",
        type=int,
        default=os.environ.get("BENCH_ANALYTICS_SESSIONS"),
        metavar="N",
        help="demo sessions of the analytics dataset, also the dashboard's (default "
        "$BENCH_ANALYTICS_SESSIONS, else 100,000; 10,000 with --quick); each size is generated once and "
        "kept in bench/.data/",
    )
    return parser.parse_args(argv)


def selected_areas(only: str) -> list[str]:
    if not only.strip():
        return list(AREAS)
    chosen: set[str] = set()
    for name in (part.strip() for part in only.split(",") if part.strip()):
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in AREAS:
            chosen.add(name)
        else:
            raise SystemExit(f"unknown area {name!r}; choose from {', '.join([*AREAS, *GROUPS])}")
    return [name for name in AREAS if name in chosen]


async def run_areas(bench: Bench, names: list[str], report: Report) -> None:
    await bench.infra.migrate()
    areas = {name: Area(name, AREAS[name]) for name in names}
    report.areas = list(areas.values())

    async def guarded(title: str, run: Callable[[], Awaitable[None]], *members: Area) -> None:
        started = time.monotonic()
        bench.say(f"== {title}")
        try:
            await run()
        except Exception:  # noqa: BLE001 - one failing area must not lose the others' figures
            error = traceback.format_exc()
            bench.say(f"!! {title} failed:\n{error}")
            for area in members:
                area.error = error
        finally:
            await reset_streams(bench.redis)
            for area in members:
                area.seconds = time.monotonic() - started
                area.note_foreign_load()

    if "unary" in areas:
        await guarded(AREAS["unary"], lambda: ingest.unary(bench, areas["unary"]), areas["unary"])
    if "batch" in areas or "stream" in areas:
        members = [areas[name] for name in ("batch", "stream") if name in areas]
        await guarded(
            "Ingest: TrackBatch / StreamEvents",
            lambda: ingest.batch_and_stream(bench, areas.get("batch"), areas.get("stream")),
            *members,
        )
    if "sync" in areas:
        await guarded(AREAS["sync"], lambda: sync.throughput(bench, areas["sync"]), areas["sync"])
    if "gateway" in areas:
        await guarded(AREAS["gateway"], lambda: gateway.measure(bench, areas["gateway"]), areas["gateway"])
    if "analytics" in areas:
        await guarded(
            AREAS["analytics"], lambda: analytics.measure(bench, areas["analytics"]), areas["analytics"]
        )
    if "dashboard" in areas:
        await guarded(
            AREAS["dashboard"], lambda: dashboard.measure(bench, areas["dashboard"]), areas["dashboard"]
        )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = selected_areas(args.only)
    if args.analytics_sessions is not None and args.analytics_sessions < 1:
        raise SystemExit("--analytics-sessions must be at least 1")
    settings = Settings.create(args.quick, args.analytics_sessions)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Ctrl-C and SIGTERM stop every child before leaving (also when started with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="configtrail-bench-"))
    log_dir = workdir / "logs"
    log_dir.mkdir()
    children = Children(log_dir)
    started_at = datetime.datetime.now(datetime.UTC)
    started = time.monotonic()
    report = Report(started_at, args.quick, settings.as_dict(), machine())
    report.notes.append(
        "**Services**: each runs as its own process (`configtrail serve ingest|sync|gateway|metrics`) with "
        "its default settings except ports; Metrics runs only for the analytics and dashboard areas, on "
        "the analytics dataset's database, so every service's telemetry flush goes to a closed port, "
        "except the dashboard area's gateway: it reports to that Metrics (the Performance page shows its "
        "admin API latencies). Load generators run in separate processes too."
    )
    print(f"configtrail bench: {', '.join(names)}{' (quick)' if args.quick else ''}; work folder {workdir}")
    infra: Infra | None = None
    interrupted = False
    try:
        infra = Infra.start(workdir)
        report.servers = infra.describe()
        bench = Bench(settings, infra, children, workdir)
        asyncio.run(_run(bench, names, report))
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping every process started", flush=True)
    finally:
        children.stop_all()
        if infra is not None:
            infra.stop()
    report.seconds = time.monotonic() - started
    if interrupted:
        print(f"no report written; logs in {log_dir}")
        return 130
    markdown, js = report.write(args.output)
    print(f"wrote {markdown} and {js} in {report.seconds / 60:.1f} min")
    failed = [area.key for area in report.areas if area.error]
    if args.keep or failed:
        print(f"logs kept in {log_dir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


async def _run(bench: Bench, names: list[str], report: Report) -> None:
    with CpuMeter({}) as idle:
        await asyncio.sleep(1.0)
    busy = idle.result["cpu_foreign"]
    report.machine["foreign_cores_at_start"] = busy
    if busy > FOREIGN_LOAD_WARNING:
        bench.say(
            f"warning: other programs are using {busy:.2f} of the {os.cpu_count()} cores; figures will suffer"
        )
    try:
        await run_areas(bench, names, report)
    finally:
        await bench.redis.aclose()
