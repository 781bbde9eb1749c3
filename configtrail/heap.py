"""The garbage collector's full passes, kept short in long-running services.

CPython's cycle collector now and then walks every tracked object (a generation-2 pass). A service holds
tens of thousands of objects from start-up alone — imported modules, protobuf descriptors, the OpenAPI
document, pools — and walking them stalls the event loop for 20-35 ms on this kind of machine, which is
every request's tail latency. Once a service has started, :func:`freeze_startup_heap` collects once and
moves everything that survives into the permanent generation, which later passes skip: they then walk
only what requests allocated since.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect, then exempt every object alive now from later collections; the number frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug("%d start-up objects exempt from garbage collection passes", frozen)
    return frozen
