"""Ingest: validates events and appends them to Redis streams; answers only once they are durable."""
