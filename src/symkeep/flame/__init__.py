"""Flame graphs from pprof, perf script and folded profiles (``symkeep flamegraph``)."""
