"""smoke layer: start a Go service (or use its URL), fetch its pprof profiles, and check they are named.

``procs`` owns the started process group (and always stops it), ``endpoint`` finds the pprof URL
(flag, environment, the process's own loopback listeners), ``profiles`` judges what came back, and
``run.smoke`` puts them together.
"""

from __future__ import annotations

from symkeep.smoke.run import SmokeOptions, SmokeReport, smoke

__all__ = ["SmokeOptions", "SmokeReport", "smoke"]
