"""``python -m configtrail`` is the ``configtrail`` command."""

from configtrail.cli import main

raise SystemExit(main())
