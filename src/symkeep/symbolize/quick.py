"""addr2line answers straight from a symbol index file, in pure Python (no numpy import).

Importing numpy costs more (~40-90 ms) than answering a few thousand addresses by bisection on the
index's mapped arrays, so the warm path of ``symkeep addr2line`` answers small inputs here. It reads
the same index the numpy path maps and formats with the same functions
(:mod:`symkeep.symbolize.a2ltext`), so its bytes are the numpy path's bytes (tests compare them on every
fixture and layout). The lookup rule is :meth:`WholeTable.ids` (the last range starting at or before
the PC; unknown past the end of the text) after the return-address rule of
:func:`symkeep.symbolize.opened.functions_of`.
"""

from __future__ import annotations

from bisect import bisect_right

from symkeep.symbolize.a2ltext import (
    Layout,
    addressed_lines,
    binutils_value,
    json_lines,
    json_texts,
    parse_address,
    shown_token,
    split_tokens,
    text_texts,
    unknown_text,
)
from symkeep.symbolize.indexfile import IndexCorrupt, IndexFile

__all__ = ["QuickIndex"]


class QuickIndex:
    """Answers of one index for one :class:`Layout`; chain texts are remembered across batches."""

    def __init__(self, ix: IndexFile, layout: Layout) -> None:
        if layout.offsets:
            raise ValueError("file offsets need the binary's program headers: use the engine")
        m = ix.meta
        self.layout = layout
        self.starts = ix.array("starts")
        self.chain = ix.array("chain")
        self.entries = ix.array("entries")
        self.ends = ix.array("ends")
        self.off = ix.array("off")
        self.cols = [ix.array(c) for c in ("name", "file", "line", "start_line", "inlined")]
        self._noff, self._nblob = ix.array("names_off"), ix.array("names_blob")
        self._foff, self._fblob = ix.array("files_off"), ix.array("files_blob")
        try:
            self.end = int(m["end"])
            self.width = 16 if int(m.get("ptr_bits", 64)) == 64 else 8
        except (KeyError, TypeError, ValueError) as e:
            raise IndexCorrupt(f"{ix.path}: unreadable header: {e}", what="symbol index") from e
        self.nfunc = len(self.ends)
        self.unknown = unknown_text(layout)
        self._texts: dict[int, str] = {-1: self.unknown}

    def chain_id(self, pc: int) -> int:
        """The chain of ``pc`` (-1: unknown), after the return-address rule when the layout asks."""
        if self.layout.return_addresses:
            i = bisect_right(self.entries, pc) - 1
            if 0 <= i < self.nfunc and pc < self.ends[i] and pc > self.entries[i]:
                pc -= 1
        r = bisect_right(self.starts, pc) - 1
        if r < 0 or pc >= self.end:
            return -1
        return int(self.chain[r])

    def _string(self, offs: memoryview, blob: memoryview, i: int) -> str:
        return bytes(blob[offs[i] : offs[i + 1]]).decode("utf-8", "surrogateescape")

    def _fill(self, cids: list[int]) -> None:
        """Texts of the chains ``cids`` (not yet known), formatted together."""
        off = self.off
        name_c, file_c, line_c, sl_c, il_c = self.cols
        lo = self.layout
        head_only = not lo.inlines and not lo.json  # without -i: the innermost row only
        roff = [0]
        spans: list[tuple[int, int]] = []
        n = 0
        for c in cids:
            a, b = off[c], off[c + 1]
            if head_only and b > a:
                b = a + 1
            spans.append((a, b))
            n += b - a
            roff.append(n)
        raw_n = [x for a, b in spans for x in name_c[a:b].tolist()]
        raw_f = [x for a, b in spans for x in file_c[a:b].tolist()]
        rl = [x for a, b in spans for x in line_c[a:b].tolist()]
        names: dict[int, int] = {}
        files: dict[int, int] = {}
        rn = [names.setdefault(x, len(names)) for x in raw_n]
        rf = [files.setdefault(x, len(files)) for x in raw_f]
        ns = [self._string(self._noff, self._nblob, i) for i in names]
        fs = [self._string(self._foff, self._fblob, i) for i in files]
        if lo.json:
            rs = [x for a, b in spans for x in sl_c[a:b].tolist()]
            ri = [bool(x) for a, b in spans for x in il_c[a:b].tolist()]
            texts = json_texts(roff, rn, rf, rl, rs, ri, ns, fs)
        else:
            texts = text_texts(lo, roff, rn, rf, rl, ns, fs)
        self._texts.update(zip(cids, texts, strict=True))

    def answer(self, batch: bytes) -> bytes:
        """The answers of a batch of complete tokens (what :class:`~symkeep.symbolize.a2ltext.TokenStream`
        hands out), UTF-8."""
        toks = split_tokens(batch)
        vals: list[int] = []
        oks: list[bool] = []
        ids: list[int] = []
        cid = self.chain_id
        for t in toks:
            v = parse_address(t)
            if v is None:
                vals.append(0)
                oks.append(False)
                ids.append(-1)
            else:
                vals.append(v)
                oks.append(True)
                ids.append(cid(v))
        texts = self._texts
        new = sorted({c for c in ids if c not in texts})
        if new:
            self._fill(new)
        per = [texts[c] for c in ids]
        lo = self.layout
        if lo.json:
            return json_lines(vals, oks, toks, per).encode()
        if lo.addresses:
            shown = [v if ok else binutils_value(shown_token(t)) for v, ok, t in zip(vals, oks, toks, strict=True)]
            return addressed_lines(shown, per, self.width, lo.pretty).encode()
        return "".join(per).encode()
