"""Which part of a Go program a frame belongs to, and the colour that class gets.

Classes (the colour legend in the README): ``runtime`` (the Go runtime and compiler-generated
``type:``/``go:`` code), ``stdlib`` (standard library packages: first path element without a dot,
including ``vendor/golang.org/x/...`` inside GOROOT), ``main`` (package ``main`` and packages under
the main module's path), ``deps`` (other modules), ``cgo`` (C code: names without a Go package, or
frames from a non-Go mapping such as libc), ``kernel``, ``unsymbolized`` (shown as ``module+0xOFF``)
and ``label`` (the synthetic root frames of ``--group-by-label``).

Colours are a pure function of (class, name): a hue band per class and a shade from a 32-bit FNV-1a
hash of the name, so the same function has the same colour in every graph. ``flame.js`` computes
the same function (kept in step by a browser test).
"""

from __future__ import annotations

import math

from symkeep.golang.functab import package_of

__all__ = ["CLASSES", "CLASS_HELP", "classify_name", "color_of", "fnv1a", "packed_rgba"]

RUNTIME = "runtime"
STDLIB = "stdlib"
MAIN = "main"
DEPS = "deps"
CGO = "cgo"
KERNEL = "kernel"
UNSYMBOLIZED = "unsymbolized"
LABEL = "label"

CLASSES = (RUNTIME, STDLIB, MAIN, DEPS, CGO, KERNEL, UNSYMBOLIZED, LABEL)
CLASS_HELP = {
    RUNTIME: "Go runtime (runtime, internal/runtime, runtime/internal, type:/go: generated code)",
    STDLIB: "standard library",
    MAIN: "your main module",
    DEPS: "dependencies (other modules)",
    CGO: "C code (cgo, libc and other non-Go code)",
    KERNEL: "kernel",
    UNSYMBOLIZED: "not symbolized (module+0xOFFSET)",
    LABEL: "pprof label (--group-by-label)",
}

# (hue, saturation %, lightness low %, lightness high %) per class. Hues are far apart, so classes
# stay distinguishable; the hash only moves lightness inside the band.
PALETTE: dict[str, tuple[int, int, int, int]] = {
    RUNTIME: (0, 0, 62, 78),  # greys
    STDLIB: (205, 65, 62, 78),  # blue
    MAIN: (28, 90, 55, 70),  # orange
    DEPS: (140, 50, 52, 68),  # green
    CGO: (275, 45, 62, 78),  # violet
    KERNEL: (50, 85, 50, 64),  # amber
    UNSYMBOLIZED: (0, 70, 80, 88),  # pale red
    LABEL: (180, 50, 70, 80),  # teal
}

_RUNTIME_PKGS = ("internal/runtime/", "runtime/internal/")


def fnv1a(s: str) -> int:
    h = 0x811C9DC5
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def color_of(kind: str, name: str) -> str:
    hue, sat, lo, hi = PALETTE.get(kind, PALETTE[RUNTIME])
    light = lo + (fnv1a(name) % 1000) * (hi - lo) / 1000.0
    return f"hsl({hue},{sat}%,{light:.1f}%)"


def packed_rgba(kind: str, shade: int) -> int:
    """The colour ``assets/flame.js`` paints (``packedShade``: HSL -> little-endian RGBA), the same
    floating-point steps, so a payload can ship colours instead of the browser computing them."""
    hue, sat, lo, hi = PALETTE.get(kind, PALETTE[RUNTIME])
    s_, l_ = sat / 100, (lo + shade * (hi - lo) / 1000.0) / 100
    a = s_ * min(l_, 1 - l_)

    def chan(n: int) -> int:
        k = (n + hue / 30) % 12
        v = 255 * (l_ - a * max(-1, min(k - 3, min(9 - k, 1))))
        r = math.floor(v)
        return r + 1 if v - r >= 0.5 else r  # JavaScript's Math.round

    return (255 << 24) | (chan(4) << 16) | (chan(8) << 8) | chan(0)


def classify_name(name: str, main_module: str = "") -> str:
    """Class of a symbolized Go (or C) frame name."""
    if name.endswith("_[k]"):
        return KERNEL
    if name.startswith(("type:", "type..", "go:", "go.")):
        return RUNTIME
    pkg = package_of(name)
    if not pkg or " " in pkg or "(" in pkg:
        return CGO
    if pkg == "runtime" or pkg.startswith(_RUNTIME_PKGS) or pkg in ("internal/abi", "internal/bytealg"):
        return RUNTIME
    if pkg == "main" or (main_module and (pkg == main_module or pkg.startswith(main_module + "/"))):
        return MAIN
    first = pkg.split("/", 1)[0]
    if first == "vendor" or "." not in first:
        return STDLIB
    return DEPS
