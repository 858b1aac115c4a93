"""Prometheus text metrics for ``symkeep serve`` (per worker process; each sample carries ``pid``).

Counters: requests by endpoint/method/status, response bytes by endpoint, lookups and cache hits,
federation fetches, uploads, integrity failures; a latency histogram per endpoint. Kept in plain dicts:
one process is single-threaded on the event loop, so no locks are needed on the request path.
"""

from __future__ import annotations

import os
from collections import defaultdict

__all__ = ["BUCKETS", "Metrics"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)
        self.counters: dict[tuple[str, str], int] = defaultdict(int)  # (name, label value)
        self.hist: dict[str, list[int]] = {}
        self.hist_sum: dict[str, float] = defaultdict(float)

    def observe(self, endpoint: str, method: str, status: int, seconds: float, nbytes: int) -> None:
        self.requests[(endpoint, method, status)] += 1
        if nbytes:
            self.bytes[endpoint] += nbytes
        h = self.hist.get(endpoint)
        if h is None:
            h = self.hist[endpoint] = [0] * (len(BUCKETS) + 1)
        i = 0
        while i < len(BUCKETS) and seconds > BUCKETS[i]:
            i += 1
        h[i] += 1
        self.hist_sum[endpoint] += seconds

    def inc(self, name: str, label: str = "", n: int = 1) -> None:
        self.counters[(name, label)] += n

    def render(self) -> str:
        pid = os.getpid()
        out = ["# HELP symkeep_http_requests_total HTTP requests by endpoint, method and status.",
               "# TYPE symkeep_http_requests_total counter"]
        for (ep, m, st), n in sorted(self.requests.items()):
            out.append(f'symkeep_http_requests_total{{pid="{pid}",endpoint="{ep}",method="{m}",code="{st}"}} {n}')
        out += ["# HELP symkeep_http_response_bytes_total Body bytes sent by endpoint.",
                "# TYPE symkeep_http_response_bytes_total counter"]
        for ep, n in sorted(self.bytes.items()):
            out.append(f'symkeep_http_response_bytes_total{{pid="{pid}",endpoint="{ep}"}} {n}')
        names = sorted({k[0] for k in self.counters})
        for name in names:
            out += [f"# TYPE symkeep_{name}_total counter"]
            for (nm, lab), n in sorted(self.counters.items()):
                if nm == name:
                    lbl = f',result="{lab}"' if lab else ""
                    out.append(f'symkeep_{name}_total{{pid="{pid}"{lbl}}} {n}')
        out += ["# HELP symkeep_http_request_duration_seconds Request latency by endpoint.",
                "# TYPE symkeep_http_request_duration_seconds histogram"]
        for ep, h in sorted(self.hist.items()):
            acc = 0
            for b, n in zip(BUCKETS, h, strict=False):
                acc += n
                out.append(f'symkeep_http_request_duration_seconds_bucket{{pid="{pid}",endpoint="{ep}",le="{b}"}} {acc}')
            acc += h[-1]
            out.append(f'symkeep_http_request_duration_seconds_bucket{{pid="{pid}",endpoint="{ep}",le="+Inf"}} {acc}')
            out.append(f'symkeep_http_request_duration_seconds_sum{{pid="{pid}",endpoint="{ep}"}} {self.hist_sum[ep]:.6f}')
            out.append(f'symkeep_http_request_duration_seconds_count{{pid="{pid}",endpoint="{ep}"}} {acc}')
        return "\n".join(out) + "\n"
