"""The garbage collector of a server process that holds thousands of connections.

CPython's defaults (a young collection every 700 net allocations, a full one whenever the
long-lived objects grew by a quarter) suit short scripts. A notifier taking 10,000 reconnects
in a few seconds creates objects fast enough to trigger a full collection every couple of
seconds, each walking every object of the process (~0.2 s at 10,000 streams, the event loop
stopped meanwhile): a fifth of its CPU in a reconnect storm and most of its live p99
(measured in docs/measurements/notifier.md). Two settings, applied once the server has started:

- ``gc.freeze()``: what start-up built (modules, classes, settings, pools) lives as long as the
  process; it is moved out of the collector's sight instead of being walked on every full
  collection.
- higher thresholds: objects freed by reference counting (nearly all of them) never count, so
  a young collection now comes after 50,000 net new objects, and a full one far more rarely.
  Cycles are still collected; they just wait longer.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Collect once, freeze what is left (the start-up heap), raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
