"""Run a program as another system user: ``python -m configtrail.runas USER PROGRAM [ARG ...]``.

The embedded PostgreSQL refuses to run as root, so when configtrail runs as root it starts the server
as an unprivileged user. ``subprocess.Popen(user=...)`` would do that with a plain ``fork()`` of the
calling process, which runs every ``pthread_atfork`` handler of a process full of gRPC threads and can
crash the child before it reaches ``exec``. Starting this small program instead (which ``Popen`` can
spawn with ``vfork``) and letting it drop privileges and ``exec`` keeps the parent's threads out of it.
"""

from __future__ import annotations

import os
import pwd
import sys


def command(user: str | None, argv: list[str]) -> list[str]:
    """``argv`` to run as ``user`` (unchanged when ``user`` is None)."""
    if user is None:
        return argv
    return [sys.executable, "-m", "configtrail.runas", user, *argv]


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit("usage: python -m configtrail.runas USER PROGRAM [ARG ...]")
    entry = pwd.getpwnam(sys.argv[1])
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir
    os.environ["USER"] = os.environ["LOGNAME"] = entry.pw_name
    os.execv(sys.argv[2], sys.argv[2:])


if __name__ == "__main__":
    main()
