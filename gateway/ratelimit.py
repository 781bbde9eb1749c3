"""Per-client rate limit: a token bucket kept in Redis, so it holds across gateway replicas.

A client is its write key plus its address; the address is never stored: the bucket key is a keyed
BLAKE2b hash of the write key and the address (IPv6 cut to its /64, the part that names a subscriber),
and buckets expire once they would be full again. The checks of concurrent requests go to Redis in one
pipeline round trip with one script call per client, whatever number of its requests it carries (the
script takes as many tokens as are there, up to that number, and computes the refill with Redis' own
clock so replicas with skewed clocks agree). When Redis is not configured or does not answer in time, requests
pass unchecked — fail open — with a warning, and Redis is tried again after a pause.

Tokens taken ahead: with each round trip a gateway takes up to ``local_tokens`` more of the client's
tokens from its Redis bucket than its waiting requests need, and spends them on the client's next
requests without asking Redis; when half are spent it takes more in the background. So a busy
client's requests seldom wait for Redis, and the limit still holds across replicas: every request let
through was paid for by a token taken from the one bucket in Redis. What the bucket cannot give goes to
the waiting requests first, never to the tokens taken ahead (and a request the bucket refuses still
gets a token another round trip took ahead meanwhile). Tokens are dropped when ``LOCAL_TOKENS_SECONDS``
pass after the client's last take, when too many clients are remembered, when Redis fails and when
the gateway stops. The one leeway: tokens held while the bucket refills to its burst
come on top of it, so a client may send at most ``local_tokens`` more than its burst per replica.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import NoScriptError, RedisError

from configtrail import constants

logger = logging.getLogger(__name__)

bucket_key = constants.rate_limit_bucket  # the key names live with all the others


#: KEYS[1] bucket; ARGV rate (tokens/s), burst, requests. Returns {requests allowed (the first ones),
#: milliseconds until the next is allowed (0 when all were)}: the same as that many checks in a row.
TOKEN_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local requests = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'n')
local last = tonumber(state[1])
local tokens = tonumber(state[2])
if last == nil or tokens == nil then
  last = now
  tokens = burst
end
tokens = math.min(burst, tokens + math.max(0, now - last) * rate / 1000)
local allowed = math.max(0, math.min(requests, math.floor(tokens)))
tokens = tokens - allowed
local wait = 0
if allowed < requests then
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', now, 'n', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], math.min(math.ceil(burst * 1000 / rate) + 1000, 86400000))
return {allowed, wait}
"""
TOKEN_BUCKET_SHA = hashlib.sha1(TOKEN_BUCKET_SCRIPT.encode()).hexdigest()


#: Pipelines of checks at once; more requests wait for one to finish and go in the next.
MAX_PIPELINES_IN_FLIGHT = 4
#: How long tokens taken ahead from a client's bucket may be spent; then they are dropped.
LOCAL_TOKENS_SECONDS = 10.0
#: Clients whose tokens taken ahead are remembered; past that they are all dropped at once.
LOCAL_TOKENS_CLIENTS = 10_000


def address_part(address: str) -> bytes:
    """The part of a client address that identifies it: IPv4 whole, IPv6 its /64 prefix."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address.encode("utf-8", "surrogateescape")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.packed
        return ip.packed[:8]
    return ip.packed


class ClientHasher:
    """Turns (write key, client address) into an opaque bucket name; the same on every replica.

    Names are remembered for the clients seen lately (up to ``remember``; then forgotten all at once),
    so a client's every request does not parse its address and hash again.
    """

    def __init__(self, secret: bytes, remember: int = 10_000) -> None:
        self._key = hashlib.blake2b(secret, digest_size=32).digest()
        self._remember = remember
        self._known: dict[tuple[str, str], str] = {}

    @property
    def remembered(self) -> int:
        """How many clients' names are remembered now."""
        return len(self._known)

    def __call__(self, write_key: str, address: str) -> str:
        name = self._known.get((write_key, address))
        if name is None:
            data = write_key.encode("utf-8", "surrogateescape") + b"\0" + address_part(address)
            name = hashlib.blake2b(data, key=self._key, digest_size=16).hexdigest()
            if len(self._known) >= self._remember:
                self._known.clear()
            self._known[(write_key, address)] = name
        return name


@dataclass
class _Held:
    """Tokens of one client's bucket taken ahead by this gateway."""

    tokens: int
    until: float  # the limiter's clock reading after which they are dropped
    #: tokens asked for ahead by round trips still out (so two round trips never both take the allowance)
    pending: int = 0


#: A check waiting for Redis: the client's bucket and the request's answer, or None for a refill of
#: the tokens taken ahead that no request waits for.
_Check = tuple[str, asyncio.Future[float | None] | None]


class RateLimiter:
    """Token buckets in Redis; :meth:`check` answers None (go on) or the seconds to wait."""

    def __init__(
        self,
        client: redis.Redis | None,
        *,
        rate: float,
        burst: int,
        timeout: float,
        retry_seconds: float,
        local_tokens: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._clock = clock
        self._rate = rate
        self._burst = burst
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._local_tokens = max(0, min(local_tokens, burst))
        self._held: dict[str, _Held] = {}
        self._queue: list[_Check] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._flush_scheduled = False
        self._started = False
        self._closing = False
        self._skip_until = 0.0
        self.checks = 0
        self.limited = 0
        self.failed_open = 0
        self.round_trips = 0
        #: requests let through on tokens taken ahead, without a round trip
        self.local = 0

    @property
    def client(self) -> redis.Redis | None:
        return self._client

    @property
    def enabled(self) -> bool:
        return self._client is not None and self._rate > 0

    async def start(self) -> None:
        """Start the checker; warn (and go on, open) when Redis is unreachable now."""
        if not self.enabled or self._client is None:
            return
        self._started = True
        try:
            await asyncio.wait_for(self._client.script_load(TOKEN_BUCKET_SCRIPT), max(self._timeout, 1.0))
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning(
                "rate limit: Redis unreachable at start-up (%s); requests pass unchecked until it is", exc
            )

    async def close(self) -> None:
        """Answer what is queued, wait for the checks in flight."""
        self._closing = True
        self._flush()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def check(self, bucket: str) -> float | None:
        """None when the client may go on, else the seconds until it may."""
        now = self._clock()
        if not self._started or self._closing or now < self._skip_until:
            return None
        if self._spend_held(bucket, now):
            self.checks += 1
            held = self._held[bucket]
            if held.tokens <= self._local_tokens // 2 and not held.pending:
                self._enqueue((bucket, None))  # more, in the background
            return None
        future: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._enqueue((bucket, future))
        return await future

    def _enqueue(self, check: _Check) -> None:
        self._queue.append(check)
        if not self._flush_scheduled:
            # the checks of every request that arrives in this turn of the loop share one round trip
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._queue or (len(self._in_flight) >= MAX_PIPELINES_IN_FLIGHT and not self._closing):
            return  # a pipeline that finishes sends what queued meanwhile
        group, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._check_group(group))
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._queue and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _evaluate(self, asks: list[int], keys: list[str]) -> list[object]:
        assert self._client is not None
        pipe = self._client.pipeline(transaction=False)
        for key, ask in zip(keys, asks, strict=True):
            pipe.evalsha(TOKEN_BUCKET_SHA, 1, key, self._rate, self._burst, ask)
        self.round_trips += 1
        replies: list[object] = await asyncio.wait_for(pipe.execute(raise_on_error=False), self._timeout)
        return replies

    def _take_ahead(self, bucket: str, now: float) -> tuple[_Held | None, int]:
        """The holding of ``bucket`` and how many tokens this round trip takes ahead for it: what the
        holding lacks, less what round trips still out are taking (counted as pending until the reply)."""
        if not self._local_tokens or self._closing:
            return None, 0
        held = self._held.get(bucket)
        if held is None:
            if len(self._held) >= LOCAL_TOKENS_CLIENTS:
                self._forget(now)
            held = self._held[bucket] = _Held(0, now + LOCAL_TOKENS_SECONDS)
        elif now >= held.until:
            held.tokens = 0  # held too long: dropped
        ahead = max(0, self._local_tokens - held.tokens - held.pending)
        held.pending += ahead
        return held, ahead

    def _forget(self, now: float) -> None:
        """Make room: drop the holdings that hold nothing (or only expired tokens) and wait for nothing;
        if every one is busy, all of them."""
        idle = [
            bucket
            for bucket, held in self._held.items()
            if not held.pending and (not held.tokens or now >= held.until)
        ]
        for bucket in idle:
            del self._held[bucket]
        if len(self._held) >= LOCAL_TOKENS_CLIENTS:
            self._held.clear()

    def _receive(self, bucket: str, held: _Held | None, ahead: int, tokens: int, now: float) -> None:
        """The reply of a round trip that took ``ahead`` for ``held`` brought ``tokens`` to hold."""
        if held is None or self._held.get(bucket) is not held:
            return  # forgotten meanwhile (too many clients, or Redis failed): the tokens are dropped
        held.pending = max(0, held.pending - ahead)
        if tokens:
            held.tokens = min(held.tokens + tokens, self._local_tokens)
            held.until = now + LOCAL_TOKENS_SECONDS

    def _spend_held(self, bucket: str, now: float) -> bool:
        """Spend one held token of ``bucket``, if there is one."""
        held = self._held.get(bucket)
        if held is None or held.tokens <= 0 or now >= held.until:
            return False
        held.tokens -= 1
        self.local += 1
        return True

    async def _check_group(self, group: list[_Check]) -> None:
        # a client's requests of this round trip, in arrival order: one script call takes them all,
        # and the tokens to take ahead
        requests: dict[str, list[asyncio.Future[float | None]]] = {}
        for bucket, future in group:
            waiting = requests.setdefault(bucket, [])
            if future is not None:
                waiting.append(future)
        now = self._clock()
        taken = {bucket: self._take_ahead(bucket, now) for bucket in requests}
        buckets = [bucket for bucket, futures in requests.items() if futures or taken[bucket][1]]
        asks = [len(requests[bucket]) + taken[bucket][1] for bucket in buckets]
        self.checks += sum(len(futures) for futures in requests.values())
        if not buckets:
            return
        keys = [bucket_key(bucket) for bucket in buckets]
        try:
            replies = await self._evaluate(asks, keys)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                # Redis restarted or flushed its scripts: load once more and check again (a NOSCRIPT
                # reply ran nothing, so nothing is counted twice).
                assert self._client is not None
                await asyncio.wait_for(self._client.script_load(TOKEN_BUCKET_SCRIPT), self._timeout)
                replies = await self._evaluate(asks, keys)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail_open(group, exc)
            return
        except Exception as exc:
            logger.exception("rate limit check failed unexpectedly")
            self._fail_open(group, exc)
            return
        now = self._clock()
        for bucket, reply in zip(buckets, replies, strict=True):
            futures = requests[bucket]
            if isinstance(reply, list) and len(reply) == 2:
                allowed, wait = int(reply[0]), max(int(reply[1]), 1) / 1000
                # the waiting requests come first; what is left over is held for the next ones
                self._receive(bucket, *taken[bucket], max(0, allowed - len(futures)), now)
            else:
                allowed, wait = len(futures), 0.0
                self.failed_open += len(futures)
                self._receive(bucket, *taken[bucket], 0, now)
                logger.warning(
                    "rate limit check failed (%s); %d requests pass unchecked", reply, len(futures)
                )
            for index, future in enumerate(futures):
                if future.done():
                    continue
                if index < allowed or self._spend_held(bucket, now):
                    # refused by the bucket, the request may still have a token another round trip
                    # of this gateway took ahead meanwhile
                    future.set_result(None)
                else:
                    self.limited += 1
                    future.set_result(wait)

    def _fail_open(self, group: list[_Check], exc: BaseException) -> None:
        self.failed_open += sum(1 for _, future in group if future is not None)
        self._held.clear()
        self._skip_until = self._clock() + self._retry_seconds
        logger.warning(
            "rate limit: Redis failed (%s); requests pass unchecked for %.0f s",
            exc or type(exc).__name__,
            self._retry_seconds,
        )
        for _, future in group:
            if future is not None and not future.done():
                future.set_result(None)
