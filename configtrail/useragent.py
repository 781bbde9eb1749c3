"""User agents reduced to what analytics use: browser family and major version, operating system.

A full user-agent string is a fingerprinting aid and analytics need none of its detail, so Ingest
stores ``"Chrome 131 / Windows"`` instead of the whole string (unless configured otherwise).
"""

from __future__ import annotations

import re

# order matters: Edge and Opera also say Chrome, Chrome also says Safari
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:Chrome|CriOS|HeadlessChrome)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[\d.]* (?:Mobile/\S+ )?Safari/")),
)

_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
)


def reduce(user_agent: str) -> str:
    """``"<browser> <major> / <system>"``, with ``other`` for what is not recognised; empty stays empty."""
    if not user_agent:
        return ""
    browser = next(
        (f"{name} {match[1]}" for name, pattern in _BROWSERS if (match := pattern.search(user_agent))),
        "other",
    )
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), "other")
    return f"{browser} / {system}"
