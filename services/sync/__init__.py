"""Sync: moves stream entries into Postgres through consumer groups, idempotently."""
