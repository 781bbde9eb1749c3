"""Versioned SQL migrations, applied in order by `configtrail migrate` and at start-up."""
