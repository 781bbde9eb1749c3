"""configtrail's benchmark harness: ``python -m bench`` (``make bench``) measures every service under load.

Each figure is measured against a bare ceiling (a no-op server, a raw client, a bare ``COPY`` loop)
in the same run, on the same machine, and written to ``bench/report.md`` and ``bench/report.json``.
Every server runs as a child process, so no load generator shares its process with what it measures.
"""
