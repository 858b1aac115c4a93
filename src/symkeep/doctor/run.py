"""Put the checks together: which ones apply depends on what the user gave (binary, profile, perf data,
process); a finding the profile confirms replaces the binary-only guess for the same cause."""

from __future__ import annotations

import os
from dataclasses import dataclass

from symkeep.doctor import binary as bchk
from symkeep.doctor import perf as pchk
from symkeep.doctor import profile as prchk
from symkeep.doctor import system as schk
from symkeep.doctor.model import DoctorReport, Finding
from symkeep.doctor.system import SystemView
from symkeep.errors import NotABinaryError, NotGoError
from symkeep.fsio import check_input_file
from symkeep.profile.mapping import classify_mapping

__all__ = ["DoctorInputs", "diagnose"]


@dataclass
class DoctorInputs:
    binary: str | None = None
    profile: str | None = None
    perf_data: str | None = None
    pid: int | None = None


def _main_dso(pd: pchk.PerfData) -> str | None:
    for dso, _ in pd.dsos().most_common():
        if classify_mapping(dso) == "file" and ".so" not in os.path.basename(dso) and os.path.isfile(dso):
            return dso
    return None


def diagnose(inp: DoctorInputs, sv: SystemView | None = None) -> DoctorReport:
    sv = sv or SystemView()
    for p in (inp.binary, inp.profile, inp.perf_data):
        if p:
            check_input_file(p)
    findings: list[Finding] = []
    binary = inp.binary
    if inp.pid is not None:
        info = schk.process_info(sv, inp.pid)
        findings += schk.check_process(sv, info)
        if binary is None:
            binary = str(info.exe_path)
    if inp.perf_data or inp.pid is not None or not (inp.binary or inp.profile):
        findings += schk.check_kernel(sv)
    pd = None
    if inp.perf_data:
        pd = pchk.read_perf_data(inp.perf_data, env={**os.environ, "HOME": sv.home} if sv.home else None)
        if binary is None:
            binary = _main_dso(pd)
    pv = prchk.load_profile(inp.profile) if inp.profile else None
    if pv is not None:
        findings.append(prchk.check_unsymbolized(pv))
    f = None
    if binary is not None:
        try:
            f = bchk.binary_facts(binary)
        except (NotGoError, NotABinaryError) as e:
            if inp.binary is not None:
                raise  # the user named it: a wrong input, not a diagnosis
            findings.append(Finding("stripped-for-consumer", "skip", f"{binary}: Go checks skipped: {e}"))
    if f is not None:
        consumers = ["perf report"] if pd is not None else []
        twin, rescue = pchk.check_cache_twin(sv.perf_cache(), f) if f.format == "elf" else (None, None)
        findings += bchk.check_stripped(f, consumers, rescue)
        if twin is not None:
            findings.append(twin)
        text = bchk.check_text_start(f)
        if pv is not None:
            stale = prchk.check_stale(pv, f)
            names = prchk.check_names(pv, f) if stale is None or stale.status == "ok" else None
            if stale is not None:
                findings.append(stale)
            if names is not None:
                if names.cause == "cgo-text-start":
                    names.evidence = text.evidence + names.evidence
                    text = names
                elif text.status == "problem" and names.status == "ok":
                    text.status = "info"
                    text.message = ("this profile's names are right (symbolized in-process), but " + text.message)
                    findings.append(names)
                else:
                    findings.append(names)
        findings.append(text)
        for extra in (bchk.check_build_id(f), bchk.check_trimpath(f)):
            if extra is not None:
                findings.append(extra)
        if pd is not None and binary is not None:
            unw = pchk.check_unwinding(pd, f)
            if unw is not None:
                findings.append(unw)
    inputs = {"binary": binary, "profile": inp.profile, "perf_data": inp.perf_data, "pid": inp.pid,
              "proc_root": str(sv.proc_root), "sys_root": str(sv.sysctl_root)}
    return DoctorReport(inputs, findings)
