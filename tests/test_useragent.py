"""User agents are reduced to browser family, major version and operating system."""

from __future__ import annotations

import pytest

from configtrail.useragent import reduce


@pytest.mark.parametrize(
    ("full", "reduced"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131 / Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
            "Edge 131 / Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari 17 / iOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133 / Linux"),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
            "Samsung Internet 25 / Android",
        ),
        ("curl/8.5.0", "other / other"),
        ("", ""),
    ],
)
def test_user_agents_keep_only_browser_version_and_system(full: str, reduced: str) -> None:
    assert reduce(full) == reduced


async def test_minimisation_settings_drop_additional_data_and_reduce_user_agents() -> None:
    from datetime import UTC, datetime

    from configtrail.common.v1 import events_pb2
    from services.ingest.validation import Clock, Limits, check_interaction, check_session

    event = events_pb2.InteractionEvent(
        session_id="s-1", event_type=events_pb2.EVENT_TYPE_CLICK, category="nest"
    )
    event.additional_data.update({"note": "free text"})
    clock = Clock(datetime(2026, 1, 1, tzinfo=UTC))
    assert check_interaction(event, clock, Limits()).HasField("additional_data")
    assert not check_interaction(event, clock, Limits(store_additional_data=False)).HasField(
        "additional_data"
    )

    session = events_pb2.UserSession(
        session_id="s-1", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
    )
    assert check_session(session, clock, Limits()).user_agent == "Firefox 133 / Linux"
    assert check_session(session, clock, Limits(reduce_user_agents=False)).user_agent == session.user_agent
