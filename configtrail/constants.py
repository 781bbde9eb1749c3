"""Every Redis key, stream and consumer-group name configtrail uses, in one place.

Keys carry a Redis Cluster hash tag (the part in braces) so that a stream shard and the keys used
together with it live in one slot; different shards land in different slots and spread over a cluster.
"""

from __future__ import annotations

KEY_PREFIX = "configtrail"

#: Consumer group every Sync worker joins, on every shard.
SYNC_GROUP = "configtrail-sync"

#: The field of a stream entry that holds the serialized ``StreamRecord``.
STREAM_FIELD = "r"


def event_stream(shard: int) -> str:
    """The stream that carries events of one shard (chosen by session id)."""
    return f"{KEY_PREFIX}:events:{{s{shard}}}"


def event_streams(shards: int) -> list[str]:
    return [event_stream(shard) for shard in range(shards)]


def session_state_key(session_id: str) -> str:
    """Hash with the live state of one session; expires after inactivity."""
    return f"{KEY_PREFIX}:session:{{{session_id}}}"


#: Sorted set of active session ids scored by last activity (unix seconds).
ACTIVE_SESSIONS = f"{KEY_PREFIX}:active-sessions"


#: Hash of Sync worker name → its latest progress report (JSON with a timestamp), for Status.
SYNC_WORKERS = f"{KEY_PREFIX}:sync-workers"


def rate_limit_bucket(client: str) -> str:
    """The gateway's token bucket of one client (a keyed hash, never a raw address)."""
    return f"{KEY_PREFIX}:gateway:rate:{{{client}}}"


#: JSON about the last retention run (when, what it deleted, when the next one is due), for doctor.
RETENTION_LAST_RUN = f"{KEY_PREFIX}:retention:last-run"
