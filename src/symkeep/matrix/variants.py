"""Build variants the matrix compares: Go flags, and post-build steps (strip, split, restore).

A variant is data, so users can add their own with ``--variants name=FLAGS`` (see :func:`parse_variant`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from symkeep.errors import UsageError

__all__ = ["DEFAULT_VARIANTS", "POST_STEPS", "Variant", "parse_variant", "select_variants"]

POST_STEPS = ("strip", "split", "restore")


@dataclass(frozen=True)
class Variant:
    """One way of building: ``go build`` options, optionally followed by a post-build step.

    ``base`` names the variant whose binary a post step starts from (``strip`` starts from ``default``).
    """

    name: str
    label: str
    ldflags: str | None = None
    gcflags: str | None = None
    buildmode: str | None = None
    trimpath: bool = False
    cgo: bool = False
    post: str | None = None
    base: str | None = None
    extra_args: tuple[str, ...] = field(default=())

    def spec(self) -> dict[str, object]:
        """Everything that changes the output (the cache key hashes this)."""
        return {
            "ldflags": self.ldflags,
            "gcflags": self.gcflags,
            "buildmode": self.buildmode,
            "trimpath": self.trimpath,
            "cgo": self.cgo,
            "post": self.post,
            "base": self.base,
            "extra_args": list(self.extra_args),
        }

    def go_flags(self) -> list[str]:
        """The ``go build`` flags as a user would type them (for reports)."""
        out: list[str] = []
        if self.ldflags is not None:
            out.append(f"-ldflags={shlex.quote(self.ldflags)}" if " " in self.ldflags else f"-ldflags={self.ldflags}")
        if self.gcflags is not None:
            out.append(f"-gcflags={self.gcflags}")
        if self.buildmode:
            out.append(f"-buildmode={self.buildmode}")
        if self.trimpath:
            out.append("-trimpath")
        out.extend(self.extra_args)
        return out


DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant("default", "default"),
    Variant("s", "-ldflags=-s", ldflags="-s"),
    Variant("w", "-ldflags=-w", ldflags="-w"),
    Variant("sw", "-ldflags='-s -w'", ldflags="-s -w"),
    Variant("s_w0", "-ldflags='-s -w=0'", ldflags="-s -w=0"),
    Variant("sw_trimpath", "-ldflags='-s -w' -trimpath", ldflags="-s -w", trimpath=True),
    Variant("pie", "-buildmode=pie", buildmode="pie"),
    Variant("pie_sw", "-buildmode=pie -ldflags='-s -w'", ldflags="-s -w", buildmode="pie"),
    Variant("extlink", "-ldflags=-linkmode=external (cgo)", ldflags="-linkmode=external", cgo=True),
    # C code precedes runtime.text and no .symtab says where Go starts: go tool pprof misattributes.
    Variant("extlink_sw", "-ldflags='-linkmode=external -s -w' (cgo)", ldflags="-linkmode=external -s -w",
            cgo=True),
    Variant("gobuildid", "-ldflags='-B gobuildid'", ldflags="-B gobuildid"),
    Variant("noinline", "-gcflags=all=-l", gcflags="all=-l"),
    Variant("strip", "default + binutils strip", post="strip", base="default"),
    Variant("split", "default + objcopy --only-keep-debug + strip (debuglink)", post="split", base="default"),
    Variant("restore", "-s -w + symkeep restore (debuglink)", post="restore", base="sw"),
)


def parse_variant(text: str) -> list[Variant]:
    """``NAME=GO BUILD FLAGS [| post:STEP]``, e.g. ``tiny=-ldflags="-s -w" -trimpath`` or ``st=|post:strip``.

    Returns the variant, preceded by a hidden ``NAME.base`` variant when a post step (``strip``,
    ``split``, ``restore``) starts from flags other than the defaults.
    """
    if "=" not in text:
        raise UsageError(f"bad variant {text!r}: expected NAME=FLAGS (or a default variant name)")
    name, _, rest = text.partition("=")
    name = name.strip()
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise UsageError(f"bad variant name {name!r}: use letters, digits, - and _")
    flags_part, _, post_part = rest.partition("|")
    post: str | None = None
    if post_part.strip():
        p = post_part.strip().removeprefix("post:")
        if p not in POST_STEPS:
            raise UsageError(f"bad post step {p!r} in variant {name!r}: one of {', '.join(POST_STEPS)}")
        post = p
    try:
        words = shlex.split(flags_part)
    except ValueError as e:
        raise UsageError(f"bad flags in variant {name!r}: {e}") from e
    ldflags = gcflags = buildmode = None
    trimpath = cgo = False
    extra: list[str] = []
    for w in words:
        if w.startswith("-ldflags="):
            ldflags = w.split("=", 1)[1]
        elif w.startswith("-gcflags="):
            gcflags = w.split("=", 1)[1]
        elif w.startswith("-buildmode="):
            buildmode = w.split("=", 1)[1]
        elif w == "-trimpath":
            trimpath = True
        elif w in ("cgo", "-cgo", "CGO_ENABLED=1"):
            cgo = True
        elif w.startswith("-"):
            extra.append(w)
        else:
            raise UsageError(f"bad flag {w!r} in variant {name!r}")
    if ldflags and "linkmode=external" in ldflags:
        cgo = True
    label = rest.strip() or name
    if post is None:
        return [Variant(name, label, ldflags, gcflags, buildmode, trimpath, cgo, extra_args=tuple(extra))]
    if not words:
        return [Variant(name, label, post=post, base="default")]
    base = Variant(f"{name}.base", flags_part.strip(), ldflags, gcflags, buildmode, trimpath, cgo,
                   extra_args=tuple(extra))
    return [base, Variant(name, label, post=post, base=base.name)]


def select_variants(spec: str | None) -> list[Variant]:
    """Comma-separated names of default variants and/or ``NAME=FLAGS`` definitions; ``+`` adds to defaults.

    ``None`` -> the default set. ``+tiny=-ldflags=-s`` -> defaults plus one. Unknown names are an error.
    Base variants needed by post steps are added when not selected; ``default`` (the reference for
    deltas) is always measured.
    """
    by_name = {v.name: v for v in DEFAULT_VARIANTS}
    if not spec:
        return list(DEFAULT_VARIANTS)
    add = spec.startswith("+")
    items = [s.strip() for s in _split_top(spec.lstrip("+")) if s.strip()]
    chosen: list[Variant] = list(DEFAULT_VARIANTS) if add else []
    for it in items:
        if "=" in it:
            new = parse_variant(it)
        elif it in by_name:
            new = [by_name[it]]
        else:
            raise UsageError(f"unknown variant {it!r} (known: {', '.join(by_name)}; or NAME=FLAGS)")
        names_new = {v.name for v in new}
        chosen = [c for c in chosen if c.name not in names_new] + new
    names = {c.name for c in chosen}
    for c in list(chosen):
        if c.base and c.base not in names and c.base in by_name:
            chosen.insert(0, by_name[c.base])
            names.add(c.base)
    if "default" not in names:
        chosen.insert(0, by_name["default"])
    return chosen


def _split_top(s: str) -> list[str]:
    """Split on commas that are not inside quotes (flags may contain commas rarely, quotes often)."""
    out, cur, q = [], [], ""
    for ch in s:
        if q:
            cur.append(ch)
            if ch == q:
                q = ""
        elif ch in "'\"":
            q = ch
            cur.append(ch)
        elif ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out
