"""Flame graphs from pprof, perf script and folded profiles (``symkeep flamegraph``).

Pipeline: :mod:`load` (files -> :class:`~symkeep.flame.pbsamples.RawSamples`, symbolized when
binaries are given) -> :mod:`stacks` (rows of root-first frames, filters) -> :mod:`tree` (preorder
tree) -> :mod:`html` / :mod:`outputs`. :func:`symkeep.flame.render.render` runs it end to end;
:func:`symkeep.flame.html.render_html` is what the server reuses.
"""
