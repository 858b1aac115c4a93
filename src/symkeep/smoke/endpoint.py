"""Find a started service's pprof endpoint: an address named in its flags or environment first, then its
own loopback listeners (``procs.listeners``), each probed with GET /debug/pprof/.

Only loopback addresses are probed: a listener on another address is reported, never contacted.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "Probe", "candidates_from_config", "probe", "url_for"]

_ADDR = re.compile(r"(?:^|[=\s/])(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]*)?:(?P<port>[0-9]{2,5})(?:$|[/\s])")
_LOOPBACK = ("", "localhost", "127.0.0.1", "0.0.0.0", "[::1]", "[::]")


@dataclass(frozen=True)
class Candidate:
    host: str  # as used in a URL (IPv6 in brackets)
    port: int
    source: str  # "flag ARG", "env NAME", "listener"


def url_for(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def candidates_from_config(args: Sequence[str], env: Mapping[str, str]) -> list[Candidate]:
    """Loopback host:port values in the command's flags, then in env vars naming an address/port."""
    out: list[Candidate] = []

    def add(text: str, src: str) -> None:
        m = _ADDR.search(text)
        if not m:
            return
        host = (m.group("host") or "").lower()
        port = int(m.group("port"))
        if host in _LOOPBACK and 0 < port < 65536:
            h = {"": "127.0.0.1", "localhost": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}.get(host, host)
            out.append(Candidate(h, port, src))

    for a in args:
        add(a, f"flag {a}")
    for k, v in env.items():
        if re.search(r"ADDR|PORT|PPROF|LISTEN", k, re.I):
            add(v if ":" in v else f":{v}", f"env {k}")
    return out


@dataclass
class Probe:
    url: str
    status: int | None  # HTTP status, None when nothing answered
    error: str = ""


def probe(base: str, timeout: float = 2.0) -> Probe:
    url = base.rstrip("/") + "/debug/pprof/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return Probe(url, r.status)
    except urllib.error.HTTPError as e:
        return Probe(url, e.code, str(e.reason))
    except (urllib.error.URLError, OSError, ValueError) as e:
        return Probe(url, None, str(getattr(e, "reason", e)))
