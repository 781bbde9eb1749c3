"""Entry point of ``python -m bench`` (``make bench``)."""

from bench.runner import main

raise SystemExit(main())
