"""Demo data: realistic configurator journeys, written through the normal write path (``configtrail demo``).

Each demo session is a visitor of the modular-house configurator: it starts a session (what
``StartSession`` would store), walks through the categories ``nest`` (the house size), ``gebaeudehuelle``,
``ausstattung``, ``fenster`` and ``energie`` mostly in order, scrolls and hovers over options, selects
one, sometimes hesitates (selects another, goes back to the first), and after every change the tracker's
``auto_save`` snapshot records the configuration, its running price and the completion. Some visitors
leave midway (a ``page_exit`` snapshot and end, or nothing at all), some leave after configuring
everything, some place an order (an ``order_attempt`` snapshot and an ``order`` end).

The records are the protobuf messages Ingest puts on the streams and are stored with
:func:`services.sync.writer.write_batch`, a few hundred sessions per transaction, so the rows and the
per-session rollups are exactly those the pipeline would produce. Afterwards the sessions that went
silent are marked abandoned as Sync's abandonment pass would.

Deterministic: session ``i`` of seed ``S`` draws everything (its ids, its start time, its journey) from
its own RNG seeded with ``(S, i)``, so the same seed and reference time give the same rows, running it
again stores nothing new (the ids are the same), and ``--sessions 2000`` is a superset of
``--sessions 1000``. A run with the same seed but another reference time finds the ids already stored:
its events and snapshots are dropped as duplicates (the session rows are merged), so use a new seed
for new data. Session start times are spread over ``[reference - days, reference - 2 h)`` with more
visitors in the (Central European) afternoon and evening; every journey ends before ``reference``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from configtrail import db, useragent
from configtrail.common.v1 import events_pb2
from services.sync.worker import mark_abandoned
from services.sync.writer import Batch, WriteResult, write_batch

#: Called after each committed batch with (sessions written, sessions in total).
Progress = Callable[[int, int], None]

CURRENCY = "EUR"
#: Sessions per transaction.
SESSIONS_PER_BATCH = 250
#: Transactions in flight at once: one is written while the next is generated.
WRITERS = 2
#: Sessions silent this long are marked abandoned at the end (Sync's default).
ABANDON_AFTER_SECONDS = 1800

_HOUR_MS = 3_600_000
_LONGEST_SESSION_MS = 2 * _HOUR_MS


@dataclass(frozen=True)
class Option:
    """One choice of a category: the value stored, the element clicked, its price in EUR cents."""

    value: str
    element_id: str
    price_minor: int
    popularity: float


#: The configurator's categories in page order, with their options.
CATALOG: dict[str, tuple[Option, ...]] = {
    "nest": (
        Option("nest_80", "nest-size-80", 17_990_000, 0.22),
        Option("nest_100", "nest-size-100", 21_490_000, 0.30),
        Option("nest_120", "nest-size-120", 24_990_000, 0.24),
        Option("nest_140", "nest-size-140", 28_490_000, 0.15),
        Option("nest_160", "nest-size-160", 31_990_000, 0.09),
    ),
    "gebaeudehuelle": (
        Option("holzlattung_laerche", "gebaeudehuelle-holzlattung-laerche", 1_890_000, 0.34),
        Option("holzlattung_fichte_grau", "gebaeudehuelle-holzlattung-fichte-grau", 1_490_000, 0.22),
        Option("fassadenplatte_anthrazit", "gebaeudehuelle-fassadenplatte-anthrazit", 2_490_000, 0.20),
        Option("putz_weiss", "gebaeudehuelle-putz-weiss", 1_190_000, 0.16),
        Option("trapezblech_schwarz", "gebaeudehuelle-trapezblech-schwarz", 2_190_000, 0.08),
    ),
    "ausstattung": (
        Option("basis", "ausstattung-basis", 0, 0.28),
        Option("komfort", "ausstattung-komfort", 2_450_000, 0.42),
        Option("premium", "ausstattung-premium", 4_900_000, 0.22),
        Option("premium_smart_home", "ausstattung-premium-smart-home", 6_950_000, 0.08),
    ),
    "fenster": (
        Option("kunststoff_2fach", "fenster-kunststoff-2fach", 0, 0.18),
        Option("kunststoff_3fach", "fenster-kunststoff-3fach", 690_000, 0.32),
        Option("holz_alu_3fach", "fenster-holz-alu-3fach", 1_390_000, 0.36),
        Option("holz_alu_3fach_raffstore", "fenster-holz-alu-3fach-raffstore", 2_290_000, 0.14),
    ),
    "energie": (
        Option("infrarotheizung", "energie-infrarotheizung", 690_000, 0.12),
        Option("luftwaermepumpe", "energie-luftwaermepumpe", 1_650_000, 0.46),
        Option("luftwaermepumpe_pv", "energie-luftwaermepumpe-pv", 2_890_000, 0.30),
        Option("erdwaermepumpe", "energie-erdwaermepumpe", 3_450_000, 0.12),
    ),
}
CATEGORIES: tuple[str, ...] = tuple(CATALOG)
#: Categories whose prices are quoted for 80 m² and grow with the house.
_AREA_PRICED = frozenset({"gebaeudehuelle", "fenster"})
_AREA = {"nest_80": 80, "nest_100": 100, "nest_120": 120, "nest_140": 140, "nest_160": 160}
_PRICE = {(category, o.value): o.price_minor for category, options in CATALOG.items() for o in options}
_OPTION = {(category, o.value): o for category, options in CATALOG.items() for o in options}
_POPULARITY = {category: [o.popularity for o in options] for category, options in CATALOG.items()}


def price_minor(configuration: dict[str, str]) -> int:
    """The total price of a (partial) configuration in EUR cents."""
    area = _AREA.get(configuration.get("nest", ""), 80)
    total = 0
    for category, value in configuration.items():
        price = _PRICE[(category, value)]
        total += price * area // 80 if category in _AREA_PRICED else price
    return total


@dataclass(frozen=True)
class _Device:
    kind: int
    share: float
    viewports: tuple[tuple[int, int], ...]
    user_agents: tuple[str, ...]
    abandon: float  # chance of leaving before the configuration is complete
    order: float  # chance of ordering once it is complete
    hesitation: float  # chance of selecting another option after the first choice


_DEVICES = (
    _Device(
        events_pb2.DEVICE_TYPE_DESKTOP,
        0.55,
        ((1920, 969), (1536, 730), (1440, 789), (1366, 657), (2560, 1305), (1680, 939)),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        ),
        abandon=0.40,
        order=0.30,
        hesitation=0.40,
    ),
    _Device(
        events_pb2.DEVICE_TYPE_TABLET,
        0.10,
        ((820, 1180), (768, 1024), (1024, 1366), (800, 1280)),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36",
        ),
        abandon=0.48,
        order=0.24,
        hesitation=0.35,
    ),
    _Device(
        events_pb2.DEVICE_TYPE_MOBILE,
        0.35,
        ((390, 844), (393, 873), (412, 915), (375, 667), (360, 800), (430, 932)),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Mobile Safari/537.36",
        ),
        abandon=0.58,
        order=0.18,
        hesitation=0.30,
    ),
)
_DEVICE_SHARES = [d.share for d in _DEVICES]
_REDUCED = {agent: useragent.reduce(agent) for device in _DEVICES for agent in device.user_agents}
_REFERRERS = (
    ("https://www.google.com/", 0.42),
    ("", 0.25),
    ("https://www.instagram.com/", 0.10),
    ("https://www.facebook.com/", 0.07),
    ("https://www.bing.com/", 0.04),
    ("https://www.derstandard.at/", 0.04),
    ("https://www.houzz.de/", 0.04),
    ("https://www.youtube.com/", 0.04),
)
_LANDING_PAGES = (
    ("/konfigurator", 0.62),
    ("/konfigurator?nest=nest_80", 0.08),
    ("/konfigurator?nest=nest_120", 0.06),
    ("/", 0.16),
    ("/haeuser/nest", 0.08),
)
_LOCALES = (("de-AT", 0.46), ("de-DE", 0.34), ("de-CH", 0.08), ("en-GB", 0.06), ("en-US", 0.06))
#: Visitors per local hour of the day (Central Europe), relative.
_HOURLY = (
    0.15, 0.08, 0.05, 0.04, 0.04, 0.08, 0.2, 0.4, 0.6, 0.75, 0.8, 0.8,
    0.85, 0.8, 0.75, 0.75, 0.8, 0.9, 1.0, 1.0, 0.95, 0.8, 0.55, 0.3,
)  # fmt: skip
_LOCAL_OFFSET_MS = _HOUR_MS  # CET; close enough for a traffic shape
#: Where in the walk an abandoning visitor leaves: during the step of this category.
_ABANDON_STEP = (0.34, 0.24, 0.18, 0.14, 0.10)


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate` wrote."""

    sessions: int
    interactions: int
    snapshots: int
    orders: int
    #: sessions that left before configuring every category
    abandoned_midway: int
    #: sessions that ended with a page_exit snapshot and end
    page_exits: int
    #: rows that were new (0 when the same seed ran before)
    inserted_interactions: int
    inserted_snapshots: int
    #: sessions marked abandoned by the final abandonment pass
    marked_abandoned: int
    first_start: datetime | None
    last_start: datetime | None
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.interactions / self.seconds if self.seconds > 0 else 0.0

    @property
    def sessions_per_second(self) -> float:
        return self.sessions / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Counts:
    interactions: int = 0
    snapshots: int = 0
    orders: int = 0
    abandoned_midway: int = 0
    page_exits: int = 0


def _ts(ms: int) -> Timestamp:
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def _stamp(timestamp: Timestamp, ms: int) -> None:
    # setting the fields in place is cheaper than building a Timestamp and copying it in
    timestamp.seconds = ms // 1000
    timestamp.nanos = (ms % 1000) * 1_000_000


# uuid.UUID(int=bits, version=4), formatted directly (the demo makes millions of them)
_UUID4_KEEP = ~(0xF000 << 64) & ~(0xC000 << 48)
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def uuid4_from(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` at half the cost."""
    h = "%032x" % (bits & _UUID4_KEEP | _UUID4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def _session_rng(seed: int, index: int, part: str = "") -> random.Random:
    # a string seed is hashed (SHA-512): independent streams for every (seed, index)
    return random.Random(f"configtrail-demo:{seed}:{index}{part}")


def start_time_ms(seed: int, index: int, window_start_ms: int, window_ms: int) -> int:
    """When session ``index`` starts: uniform over the window, shaped by the hour of the day."""
    rng = _session_rng(seed, index, ":start")
    while True:
        candidate = window_start_ms + int(rng.random() * window_ms)
        hour = (candidate + _LOCAL_OFFSET_MS) // _HOUR_MS % 24
        if rng.random() < _HOURLY[hour]:
            return candidate


class _Journey:
    """One visitor's walk through the configurator, appended to a batch as stream records."""

    def __init__(
        self,
        rng: random.Random,
        start_ms: int,
        end_limit_ms: int,
        batch: Batch,
        counts: _Counts,
        reduce_user_agents: bool,
    ) -> None:
        self.rng = rng
        self.reduce_user_agents = reduce_user_agents
        self.batch = batch
        self.counts = counts
        self.session_id = self.new_id()
        self.device = rng.choices(_DEVICES, _DEVICE_SHARES)[0]
        self.width, self.height = rng.choice(self.device.viewports)
        self.t = start_ms
        # every record lands before the reference time
        self.end_limit = end_limit_ms
        self.sequence = 0
        self.configuration: dict[str, str] = {}

    def new_id(self) -> str:
        return uuid4_from(self.rng.getrandbits(128))

    def delay(self) -> int:
        """Client to Ingest: mostly tens of milliseconds, sometimes a queued batch of seconds."""
        if self.rng.random() < 0.02:
            return self.rng.randint(1_000, 15_000)
        return 20 + int(self.rng.expovariate(1 / 60))

    def spend(self, median_ms: float, sigma: float) -> int:
        """Time spent before the next action: log-normal, with the odd long pause in another tab."""
        spent = int(self.rng.lognormvariate(math.log(median_ms), sigma))
        if self.rng.random() < 0.01:
            spent += self.rng.randint(60_000, 900_000)
        return max(80, min(spent, 1_800_000))

    def advance(self, ms: int) -> int:
        self.t = min(self.t + ms, self.end_limit)
        return self.t

    # ---- records ----

    def start(self) -> None:
        rng = self.rng
        user_agent = rng.choice(self.device.user_agents)
        session = events_pb2.UserSession(
            session_id=self.session_id,
            started_at=_ts(self.t),
            last_seen_at=_ts(self.t + self.delay()),
            # what Ingest stores by default (CONFIGTRAIL_REDUCE_USER_AGENTS)
            user_agent=_REDUCED[user_agent] if self.reduce_user_agents else user_agent,
            device_type=self.device.kind,  # type: ignore[arg-type]
            viewport_width=self.width,
            viewport_height=self.height,
            referrer=_pick(rng, _REFERRERS),
            landing_page=_pick(rng, _LANDING_PAGES),
            locale=_pick(rng, _LOCALES),
            status=events_pb2.SESSION_STATUS_ACTIVE,
        )
        self.batch.sessions.append(session)

    def event(
        self,
        event_type: int,
        category: str,
        element_id: str,
        spent: int,
        selection: str = "",
        previous: str = "",
        custom: str = "",
    ) -> None:
        self.sequence += 1
        at = self.advance(spent)
        event = events_pb2.InteractionEvent(
            event_id=self.new_id(),
            session_id=self.session_id,
            event_type=event_type,  # type: ignore[arg-type]
            custom_event_type=custom,
            category=category,
            element_id=element_id,
            selection_value=selection,
            previous_value=previous,
            time_spent_ms=spent,
            device_type=self.device.kind,  # type: ignore[arg-type]
            viewport_width=self.width,
            viewport_height=self.height,
            sequence=self.sequence,
        )
        _stamp(event.client_timestamp, at)
        _stamp(event.server_timestamp, at + self.delay())
        self.batch.interactions.append(event)
        self.counts.interactions += 1

    def snapshot(self, trigger: int, after_ms: int) -> None:
        at = self.advance(after_ms)
        snapshot = events_pb2.ConfigurationSnapshot(
            snapshot_id=self.new_id(),
            session_id=self.session_id,
            total_price=events_pb2.Money(amount_minor=price_minor(self.configuration), currency=CURRENCY),
            completion_percentage=100.0 * len(self.configuration) / len(CATEGORIES),
            trigger=trigger,  # type: ignore[arg-type]
        )
        _stamp(snapshot.client_timestamp, at)
        _stamp(snapshot.server_timestamp, at + self.delay())
        snapshot.configuration.update(self.configuration)
        self.batch.snapshots.append(snapshot)
        self.counts.snapshots += 1

    def end(self, reason: int) -> None:
        at = self.advance(self.rng.randint(5, 200))
        self.batch.ends.append(
            events_pb2.SessionEnd(session_id=self.session_id, reason=reason, ended_at=_ts(at + self.delay()))  # type: ignore[arg-type]
        )

    # ---- behaviour ----

    def hover(self, category: str, option: Option) -> None:
        self.event(events_pb2.EVENT_TYPE_HOVER, category, option.element_id, self.spend(900, 0.6))

    def select(self, category: str, option: Option) -> None:
        previous = self.configuration.get(category, "")
        self.event(
            events_pb2.EVENT_TYPE_SELECTION,
            category,
            option.element_id,
            self.spend(4_500, 0.8),
            selection=option.value,
            previous=previous,
        )
        self.configuration[category] = option.value
        # the tracker saves a debounced moment after each change
        self.snapshot(events_pb2.SNAPSHOT_TRIGGER_AUTO_SAVE, self.rng.randint(300, 1_200))

    def popular(self, category: str, other_than: str = "") -> Option:
        options = CATALOG[category]
        while True:
            option = self.rng.choices(options, _POPULARITY[category])[0]
            if option.value != other_than:
                return option

    def step(self, category: str, leave: bool) -> None:
        """Look at one category and choose; ``leave``: the visitor goes away during this step."""
        rng = self.rng
        options = CATALOG[category]
        for _ in range(rng.choices((0, 1, 2, 3, 4), (0.1, 0.25, 0.3, 0.2, 0.15))[0]):
            self.event(events_pb2.EVENT_TYPE_SCROLL, category, f"{category}-section", self.spend(1_800, 0.7))
        for _ in range(1 + min(int(rng.expovariate(1 / 7.0)), 24)):
            self.hover(category, rng.choice(options))
        if leave and rng.random() < 0.5:
            return
        choice = self.popular(category)
        self.select(category, choice)
        if rng.random() < self.device.hesitation:
            alternative = self.popular(category, other_than=choice.value)
            for _ in range(rng.randint(1, 3)):
                self.hover(category, rng.choice(options))
            self.select(category, alternative)
            if rng.random() < 0.45:
                self.hover(category, choice)
                self.select(category, choice)
        if rng.random() < 0.2:
            self.event(
                events_pb2.EVENT_TYPE_CUSTOM,
                category,
                f"{category}-info",
                self.spend(2_500, 0.7),
                custom="info_opened",
            )
        if leave:
            return
        self.event(events_pb2.EVENT_TYPE_CLICK, category, f"{category}-weiter", self.spend(1_500, 0.6))

    def run(self) -> None:
        rng = self.rng
        self.start()
        leave_at = (
            rng.choices(range(len(CATEGORIES)), _ABANDON_STEP)[0]
            if rng.random() < self.device.abandon
            else None
        )
        for index, category in enumerate(CATEGORIES):
            self.step(category, leave=index == leave_at)
            if index == leave_at:
                self.counts.abandoned_midway += 1
                self.leave(rng.random() < 0.6)
                return
        if rng.random() < 0.25:
            # back to an earlier step to change something (the price moves again)
            category = rng.choice(CATEGORIES[:-1])
            self.event(events_pb2.EVENT_TYPE_CLICK, category, f"{category}-tab", self.spend(2_000, 0.6))
            option = self.popular(category, other_than=self.configuration[category])
            self.hover(category, option)
            self.select(category, option)
        last = CATEGORIES[-1]
        self.event(events_pb2.EVENT_TYPE_SCROLL, last, "zusammenfassung", self.spend(3_000, 0.7))
        if rng.random() < 0.4:
            self.event(
                events_pb2.EVENT_TYPE_CUSTOM,
                last,
                "zusammenfassung-preisdetails",
                self.spend(2_000, 0.6),
                custom="price_breakdown_opened",
            )
        if rng.random() < self.device.order:
            self.event(events_pb2.EVENT_TYPE_CLICK, last, "bestellen", self.spend(8_000, 0.8))
            self.snapshot(events_pb2.SNAPSHOT_TRIGGER_ORDER_ATTEMPT, rng.randint(100, 600))
            self.end(events_pb2.END_REASON_ORDER)
            self.counts.orders += 1
        else:
            self.leave(rng.random() < 0.7)

    def leave(self, with_page_exit: bool) -> None:
        """Close the page: the tracker's page_exit beacon, or nothing (tab closed, battery, lost network)."""
        if not with_page_exit:
            return
        if self.configuration:
            # the beacon carries a snapshot only when there is something configured
            self.snapshot(events_pb2.SNAPSHOT_TRIGGER_PAGE_EXIT, self.spend(1_500, 1.0))
        self.end(events_pb2.END_REASON_PAGE_EXIT)
        self.counts.page_exits += 1


def build_session(
    seed: int,
    index: int,
    start_ms: int,
    end_limit_ms: int,
    batch: Batch,
    counts: _Counts,
    *,
    reduce_user_agents: bool = True,
) -> None:
    """Append session ``index`` of ``seed`` to ``batch``."""
    _Journey(_session_rng(seed, index), start_ms, end_limit_ms, batch, counts, reduce_user_agents).run()


@dataclass
class _Writer:
    """Writes batches on a few connections, at most one transaction per connection at a time."""

    pool: asyncpg.Pool
    inflight: set[asyncio.Task[WriteResult]] = field(default_factory=set)
    interactions: int = 0
    snapshots: int = 0

    async def submit(self, batch: Batch, on_done: Callable[[], None]) -> None:
        while len(self.inflight) >= WRITERS:
            await self._wait_one()
        task = asyncio.get_running_loop().create_task(self._write(batch))
        task.add_done_callback(lambda _: on_done())
        self.inflight.add(task)

    async def _write(self, batch: Batch) -> WriteResult:
        async with self.pool.acquire() as conn:
            return await write_batch(conn, batch)

    async def _wait_one(self) -> None:
        done, _ = await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            self.inflight.discard(task)
            result = task.result()
            self.interactions += result.interactions
            self.snapshots += result.snapshots

    async def drain(self) -> None:
        while self.inflight:
            await self._wait_one()

    async def cancel(self) -> None:
        """After a failure: stop the other transactions (they roll back) and wait for them."""
        for task in self.inflight:
            task.cancel()
        await asyncio.gather(*self.inflight, return_exceptions=True)
        self.inflight.clear()


async def generate(
    dsn: str,
    sessions: int,
    seed: int,
    days: int,
    reference: datetime,
    progress: Progress | None = None,
    *,
    sessions_per_batch: int = SESSIONS_PER_BATCH,
    abandon_after_seconds: int = ABANDON_AFTER_SECONDS,
    reduce_user_agents: bool = True,
) -> DemoSummary:
    """Write ``sessions`` demo sessions of ``seed`` starting in ``[reference - days, reference - 2 h)``.

    The schema must be current (``configtrail migrate``). ``progress(done, total)`` is called after each
    committed transaction. ``reduce_user_agents`` stores user agents as Ingest does with that setting.
    Returns what was generated and how much of it was new.
    """
    if sessions < 0 or days < 1 or sessions_per_batch < 1:
        raise ValueError("sessions must be >= 0, days and sessions_per_batch >= 1")
    if reference.tzinfo is None:
        raise ValueError("reference must be timezone-aware")
    began = time.perf_counter()
    reference_ms = int(reference.timestamp() * 1000)
    window_end_ms = reference_ms - _LONGEST_SESSION_MS
    window_ms = days * 24 * _HOUR_MS - _LONGEST_SESSION_MS
    window_start_ms = window_end_ms - window_ms
    # in time order, so concurrent transactions touch different hours of the rollups
    order = sorted(
        (start_time_ms(seed, index, window_start_ms, window_ms), index) for index in range(sessions)
    )
    counts = _Counts()
    written = 0

    def committed(size: int) -> Callable[[], None]:
        def note() -> None:
            nonlocal written
            written += size
            if progress is not None:
                progress(written, sessions)

        return note

    pool = await db.create_pool(dsn, size=WRITERS)
    writer = _Writer(pool)
    try:
        for first in range(0, sessions, sessions_per_batch):
            batch = Batch()
            chunk = order[first : first + sessions_per_batch]
            for position, (start_ms, index) in enumerate(chunk):
                build_session(
                    seed,
                    index,
                    start_ms,
                    reference_ms - 1,
                    batch,
                    counts,
                    reduce_user_agents=reduce_user_agents,
                )
                if position % 25 == 24:
                    # let the writes in flight move on while this batch is built
                    await asyncio.sleep(0)
            await writer.submit(batch, committed(len(chunk)))
        await writer.drain()
        marked = await mark_abandoned(pool, abandon_after_seconds) if sessions else 0
    finally:
        await writer.cancel()
        await pool.close()

    def moment(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC)

    return DemoSummary(
        sessions=sessions,
        interactions=counts.interactions,
        snapshots=counts.snapshots,
        orders=counts.orders,
        abandoned_midway=counts.abandoned_midway,
        page_exits=counts.page_exits,
        inserted_interactions=writer.interactions,
        inserted_snapshots=writer.snapshots,
        marked_abandoned=marked,
        first_start=moment(order[0][0]) if order else None,
        last_start=moment(order[-1][0]) if order else None,
        seconds=time.perf_counter() - began,
    )


def default_reference(now: datetime | None = None) -> datetime:
    """The CLI's reference time: the current UTC hour, so runs within one hour are identical."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def parse_reference(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ProgressBar:
    """A one-line progress bar: redrawn in place on a terminal, a line every 10 % otherwise (logs, CI)."""

    def __init__(self, stream: TextIO, width: int = 32) -> None:
        self._stream = stream
        self._width = width
        self._tty = stream.isatty()
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._decile = -1

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if self._tty:
            if not finished and now - self._drawn_at < 0.1:
                return
        else:
            decile = done * 10 // max(total, 1)
            if decile == self._decile:
                return
            self._decile = decile
        self._drawn_at = now
        fraction = done / total if total else 1.0
        filled = int(self._width * fraction)
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        line = (
            f"[{'#' * filled}{'.' * (self._width - filled)}] {done:,}/{total:,} sessions "
            f"{fraction:6.1%}  {rate:,.0f}/s  {'done' if finished else f'ETA {eta:.0f}s'}"
        )
        self._stream.write(f"\r{line}" + ("\n" if finished else "") if self._tty else line + "\n")
        self._stream.flush()
