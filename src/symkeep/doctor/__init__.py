"""doctor layer: why a profile or flame graph is blank or wrong, each cause with its evidence and fix.

``diagnose(DoctorInputs, SystemView) -> DoctorReport``; every check lives in one module by what it
reads: the binary (``binary``), a pprof profile (``profile``), perf data and perf's build-id cache
(``perf``), the kernel settings and a running process (``system``, with an injectable /proc root).
"""

from __future__ import annotations

from symkeep.doctor.model import DoctorReport, Finding
from symkeep.doctor.run import DoctorInputs, diagnose
from symkeep.doctor.system import SystemView

__all__ = ["DoctorInputs", "DoctorReport", "Finding", "SystemView", "diagnose"]
