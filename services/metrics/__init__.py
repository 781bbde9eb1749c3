"""Metrics: records performance metrics and answers analytics queries."""
