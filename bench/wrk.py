"""HTTP load with wrk (Debian ``wrk``) and a generated Lua script.

The script builds every request body afresh — a new random UUID per event, one session per request
drawn from a pool, as a browser's tracker posts its own session's events — sends
``Content-Type: application/json`` and the ``X-Write-Key`` header, and prints one JSON summary line
(requests, non-2xx/3xx count, socket errors, latency percentiles) when wrk is done.

Without a rate, every connection sends its next request as soon as the last one is answered (a closed
loop: the load is as high as the server allows). With a rate, each wrk thread hands out send times on
a fixed schedule through wrk's ``delay()`` hook (a monotonic clock read through LuaJIT's FFI), so the
connections together offer that many requests per second, whatever the answers' latency, as long as
a connection is free.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, run_tool

WRK = shutil.which("wrk")

_SCRIPT = r"""
local write_key = "%(key)s"
local batch = %(batch)d
local sessions = %(sessions)d
local stamp = %(stamp)d
local interval_ms = %(interval_ms).6f
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() * 1009 + (thread_number or 0) * 7919)
end

local function uuid()
  return string.format("%%08x-%%04x-4%%03x-%%04x-%%04x%%08x",
    math.random(0, 0x7fffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    math.random(0x8000, 0xbfff), math.random(0, 0xffff), math.random(0, 0x7fffffff))
end

local function event(kind, session)
  return string.format(
    '{%%s"sessionId":"bench-s%%06d","eventId":"%%s","eventType":"selection","category":"exterior",'
    .. '"elementId":"paint-0","selectionValue":"arctic-white","previousValue":"graphite-grey",'
    .. '"timeSpent":400,"deviceType":"desktop","viewportWidth":1440,"viewportHeight":900,'
    .. '"additionalData":{"step":1,"source":"bench"},"timestamp":%%d}',
    kind, session, uuid(), stamp)
end

if interval_ms > 0 then
  local ffi = require("ffi")
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } configtrail_timespec;
    int clock_gettime(int clock_id, configtrail_timespec *tp);
  ]]
  local CLOCK_MONOTONIC = 1
  local now = ffi.new("configtrail_timespec")
  local next_send = 0

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end

  -- this thread's next send time on the schedule, which starts at the first request and never
  -- moves: a send that is overdue (no connection was free) goes at once
  function delay()
    local at = now_ms()
    if next_send == 0 then next_send = at end
    local wait = next_send - at
    next_send = next_send + interval_ms
    if wait < 0 then return 0 end
    return wait
  end
end

local headers = {["Content-Type"] = "application/json", ["X-Write-Key"] = write_key}

function request()
  local body
  -- a browser's tracker posts its own session's events: one session per request
  local session = math.random(0, sessions - 1)
  if batch == 0 then
    body = event("", session)
  else
    local items = {}
    for i = 1, batch do
      items[i] = event('"kind":"interaction",', session)
    end
    body = '{"items":[' .. table.concat(items, ",") .. ']}'
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"non2xx":%%d,"connect":%%d,"read":%%d,"write":%%d,'
    .. '"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def script(path: Path, *, key: str, batch: int, sessions: int, rate: float = 0.0, threads: int = 1) -> Path:
    """Write the Lua script: ``batch`` 0 posts single events, otherwise ``{"items": [batch events]}``;
    a ``rate`` (requests per second over all of wrk's ``threads``) paces the sends, 0 does not."""
    interval_ms = threads * 1000 / rate if rate > 0 else 0.0
    path.write_text(
        _SCRIPT
        % {
            "key": key,
            "batch": batch,
            "sessions": sessions,
            "stamp": int(time.time() * 1000),
            "interval_ms": interval_ms,
        }
    )
    return path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    latency: dict[str, float]

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds


async def run(url: str, lua: Path, *, duration: float, connections: int, threads: int) -> WrkResult:
    if WRK is None:
        raise BenchError("wrk is not installed")
    out = await run_tool(
        [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration:g}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            url,
        ],
        timeout=duration + 60,
    )
    line = next((line for line in out.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no summary:\n{out[-2000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["non2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        latency={
            "p50_ms": data["p50_us"] / 1000,
            "p90_ms": data["p90_us"] / 1000,
            "p99_ms": data["p99_us"] / 1000,
            "max_ms": data["max_us"] / 1000,
        },
    )
