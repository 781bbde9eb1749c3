"""configtrail: session and interaction tracking for web product configurators.

This package holds what every service shares: settings, logging, the Postgres schema and pool, the
Redis stream helpers, error mapping, the gRPC server scaffolding and the generated protobuf code
(``configtrail.<service>.v1``).
"""

__version__ = "0.1.0"
