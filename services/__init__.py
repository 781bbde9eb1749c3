"""The configtrail services: ingest, sync and metrics, one folder each."""
