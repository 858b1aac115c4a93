"""ELF reader: sections, segments, symbols, notes and the dynamic table, robust to stripped headers.

Stripped Go binaries are often post-processed (section headers zeroed, sstrip, packers), so only the
ELF header itself is fatal when broken. A bad section table, a bad program header or a bad string
reference becomes an entry in ``self.warnings`` and the reader carries on with what is valid;
everything address related then falls back to the program headers.
"""

from __future__ import annotations

import dataclasses
import io
import mmap
import zlib
from functools import cached_property
from typing import Any, Literal

from symkeep.binfmt import elf_constants as C
from symkeep.binfmt.base import Binary, Kind, Note, Section, Segment, Symbol
from symkeep.binfmt.elfstructs import Ehdr, Ident, Phdr, Shdr, layout
from symkeep.binfmt.notes import walk_notes
from symkeep.errors import FormatError, NotABinaryError

__all__ = ["ELFFile", "Phdr", "Shdr"]

_SymKind = Literal["func", "object", "section", "file", "other"]
_STT_KIND: dict[int, _SymKind] = {
    C.STT_FUNC: "func",
    C.STT_OBJECT: "object",
    C.STT_SECTION: "section",
    C.STT_FILE: "file",
}


class _Warnings(list[str]):
    """A list of warnings that stops growing (one last marker) so hostile files cannot flood it."""

    LIMIT = 200

    def append(self, item: str) -> None:
        if len(self) < self.LIMIT:
            super().append(item)
        elif len(self) == self.LIMIT:
            super().append("... more warnings suppressed")


class ELFFile(Binary):
    """An ELF32/ELF64 file of either byte order (executable, PIE, shared object, object, core)."""

    format = "elf"

    def __init__(self, path: str, data: mmap.mmap | bytes, base: int = 0, length: int | None = None) -> None:
        super().__init__(path, data, base, length)
        self.warnings: list[str] = _Warnings()
        ident = bytes(self.data[: C.EI_NIDENT])
        if ident[:4] != C.ELF_MAGIC and (len(ident) >= 4 or not C.ELF_MAGIC.startswith(ident)):
            raise NotABinaryError(f"{path}: not an ELF file (bad magic)")
        if len(ident) < C.EI_NIDENT:
            raise FormatError("truncated ELF identification", 0, len(ident), what="e_ident")
        self.elfclass = ident[4]
        if self.elfclass not in (C.ELFCLASS32, C.ELFCLASS64):
            raise FormatError("bad ELF class", 4, self.elfclass, what="e_ident[EI_CLASS]")
        if ident[5] not in (C.ELFDATA2LSB, C.ELFDATA2MSB):
            raise FormatError("bad ELF data encoding", 5, ident[5], what="e_ident[EI_DATA]")
        self.bits = 64 if self.elfclass == C.ELFCLASS64 else 32
        self.byteorder = "little" if ident[5] == C.ELFDATA2LSB else "big"
        self._e = self.endian_prefix
        self.osabi = ident[7]
        self.ident = Ident(self.bits, self._e, ident[7], ident[8])
        self.layout = layout(self.bits, self._e)
        ehsize = self.layout.ehdr_size
        if self.length < ehsize:
            raise FormatError(f"truncated ELF header ({self.length} of {ehsize} bytes)", 16, what="Elf_Ehdr")
        self.ehdr: Ehdr = self.layout.unpack_ehdr(self.data)
        h = self.ehdr
        self.e_type, self.machine, self.e_version, self.entry = h.type, h.machine, h.version, h.entry
        self.e_phoff, self.e_shoff, self.e_flags, self.e_ehsize = h.phoff, h.shoff, h.flags, h.ehsize
        self.e_phentsize, self.e_shentsize = h.phentsize, h.shentsize
        self.e_phnum, self.e_shnum, self.e_shstrndx = h.phnum, h.shnum, h.shstrndx
        self._shdrs: list[Shdr] = []  # raw section headers, filled with sections()
        self._resolve_extended_numbering()
        self.arch = self._goarch()
        self._phdrs = self._read_phdrs()
        self.image_base = self._image_base()
        self.kind = self._kind()

    # -- header helpers ---------------------------------------------------------------------------
    def _resolve_extended_numbering(self) -> None:
        """Section 0 holds the real counts when they do not fit the 16-bit header fields."""
        need = self.e_shnum == 0 or self.e_shstrndx == C.SHN_XINDEX or self.e_phnum == C.PN_XNUM
        if not need or self.e_shoff == 0:
            return
        try:
            s0 = self._read_shdr_at(self.e_shoff)
        except FormatError:
            self.warnings.append(f"section 0 (extended numbering) unreadable at {self.e_shoff:#x}")
            return
        if self.e_shnum == 0:
            self.e_shnum = s0.size
        if self.e_shstrndx == C.SHN_XINDEX:
            self.e_shstrndx = s0.link
        if self.e_phnum == C.PN_XNUM:
            self.e_phnum = s0.info

    def _goarch(self) -> str:
        m, be, b64 = self.machine, self.byteorder == "big", self.bits == 64
        if m == C.EM_X86_64:
            return "amd64"
        if m == C.EM_386:
            return "386"
        if m == C.EM_AARCH64:
            return "arm64"
        if m == C.EM_ARM:
            return "arm"
        if m == C.EM_S390:
            return "s390x"
        if m == C.EM_PPC64:
            return "ppc64" if be else "ppc64le"
        if m == C.EM_PPC:
            return "ppc"
        if m == C.EM_RISCV:
            return "riscv64" if b64 else "riscv"
        if m in (C.EM_MIPS, C.EM_MIPS_RS3_LE):
            return ("mips64" if be else "mips64le") if b64 else ("mips" if be else "mipsle")
        if m == C.EM_LOONGARCH:
            return "loong64"
        if m == C.EM_SPARCV9:
            return "sparc64"
        return f"unknown-{m}"

    def _image_base(self) -> int:
        loads = [p.vaddr for p in self._phdrs if p.type == C.PT_LOAD]
        if not loads:
            addrs = [s.addr for s in self.sections() if s.alloc and s.addr]
            if not addrs:
                return 0
            loads = addrs
        return min(loads) & ~(C.PAGE - 1)

    def _kind(self) -> Kind:
        t = self.e_type
        if t == C.ET_REL:
            return "object"
        if t == C.ET_CORE:
            return "core"
        if t not in (C.ET_EXEC, C.ET_DYN):
            return "unknown"
        if self._is_debug_only():
            return "debug"
        if t == C.ET_EXEC:
            return "exe"
        flags_1 = self.dynamic_value(C.DT_FLAGS_1)
        if flags_1 is not None and flags_1 & C.DF_1_PIE:
            return "pie"
        if self.dynamic_value(C.DT_SONAME) is not None:
            return "shared"
        if any(p.type == C.PT_INTERP for p in self._phdrs):
            return "pie"
        return "pie" if self.entry != 0 else "shared"

    def _is_debug_only(self) -> bool:
        """objcopy --only-keep-debug output: every allocated section except notes is NOBITS."""
        alloc = [s for s in self.sections() if s.alloc and s.size and s.raw_type != C.SHT_NOTE]
        if not alloc or any(s.raw_type != C.SHT_NOBITS for s in alloc):
            return False
        # Corroborate with the program headers (a garbage section table must not turn an executable
        # into a "debug" file): objcopy leaves at most the headers' page in each PT_LOAD.
        return all(p.filesz <= max(0x10000, p.align) for p in self._phdrs if p.type == C.PT_LOAD)

    # -- program headers --------------------------------------------------------------------------
    def _header_table(self, n: int, off: int, ent: int, size: int, field: str, what: str) -> bool:
        """Whether a header table is present with entries of at least the ``size`` we read (else warn)."""
        if n == 0 or off == 0:
            return False
        if ent < size:
            self.warnings.append(f"{field} {ent} smaller than {size}: {what} ignored")
            return False
        return True

    def _read_phdrs(self) -> list[Phdr]:
        n, off, ent = self.e_phnum, self.e_phoff, self.e_phentsize
        if not self._header_table(n, off, ent, self.layout.phdr.size, "e_phentsize", "program headers"):
            return []
        if off >= self.length:
            self.warnings.append(f"program headers at {off:#x} beyond end of file")
            return []
        fit = (self.length - off) // ent
        if fit < n:
            self.warnings.append(f"e_phnum {n} truncated to {fit}: program headers run past end of file")
            n = fit
        if n > C.MAX_PHNUM:
            self.warnings.append(
                f"e_phnum {n} implausible: only the first {C.MAX_PHNUM} program headers read"
            )
            n = C.MAX_PHNUM
        out: list[Phdr] = []
        for i in range(n):
            ph = self.layout.unpack_phdr(self.data, off + i * ent)
            if ph.filesz and ph.offset + ph.filesz > self.length:
                self.warnings.append(
                    f"program header {i}: file range {ph.offset:#x}+{ph.filesz:#x} past end of file; clamped"
                )
                ph = dataclasses.replace(ph, filesz=max(0, self.length - ph.offset))
            out.append(ph)
        return out

    def _load_segments(self) -> list[Segment]:
        out = []
        for i, p in enumerate(self._phdrs):
            name = C.PT_ARCH_NAMES.get((self.machine, p.type)) or C.PT_NAMES.get(p.type) or f"{p.type:#x}"
            out.append(
                Segment(
                    index=i,
                    vaddr=p.vaddr,
                    memsz=p.memsz,
                    offset=p.offset,
                    filesz=p.filesz,
                    read=bool(p.flags & C.PF_R),
                    write=bool(p.flags & C.PF_W),
                    execute=bool(p.flags & C.PF_X),
                    load=p.type == C.PT_LOAD,
                    name=name,
                    raw_type=p.type,
                )
            )
        return out

    def segment_align(self, seg: Segment) -> int:
        """p_align of a segment (not part of the neutral :class:`Segment`)."""
        return self._phdrs[seg.index].align

    def segment_flags(self, seg: Segment) -> int:
        return self._phdrs[seg.index].flags

    def program_headers(self) -> list[Phdr]:
        """The program headers as read (file sizes clamped to the file), for writers that copy them."""
        return list(self._phdrs)

    # -- section headers --------------------------------------------------------------------------
    def _read_shdr_at(self, p: int) -> Shdr:
        if p < 0 or p + self.layout.shdr.size > self.length:
            raise FormatError("section header past end of file", p, what="Elf_Shdr")
        return self.layout.unpack_shdr(self.data, p)

    def _load_sections(self) -> list[Section]:
        n, off, ent = self.e_shnum, self.e_shoff, self.e_shentsize
        if not self._header_table(n, off, ent, self.layout.shdr.size, "e_shentsize", "section headers"):
            return []
        if off >= self.length or n * ent > self.length - off:
            self.warnings.append(f"section headers ({n} x {ent} at {off:#x}) run past end of file: ignored")
            return []
        raw = [self._read_shdr_at(off + i * ent) for i in range(n)]
        strtab: tuple[int, int] | None = None
        si = self.e_shstrndx
        if 0 < si < n:
            st = raw[si]
            if st.type != C.SHT_NOBITS and st.offset + st.size <= self.length:
                strtab = (st.offset, st.size)
            else:
                self.warnings.append(f"section name table (index {si}) out of file")
        elif si != C.SHN_UNDEF:
            self.warnings.append(f"e_shstrndx {si} out of range (e_shnum {n})")
        out = []
        for i, sh in enumerate(raw):
            nm, t, fl, addr, o, sz = sh.name, sh.type, sh.flags, sh.addr, sh.offset, sh.size
            name = (
                self._cstr(strtab, nm) if strtab else ("" if nm == 0 and i == 0 else f"<bad name @{nm:#x}>")
            )
            fsz = 0 if t in (C.SHT_NOBITS, C.SHT_NULL) else sz
            if fsz and (o + fsz > self.length):
                self.warnings.append(f"section {i} {name}: data {o:#x}+{fsz:#x} past end of file")
                fsz = 0
            out.append(
                Section(
                    index=i,
                    name=name,
                    addr=addr,
                    offset=o,
                    size=sz,
                    file_size=fsz,
                    alloc=bool(fl & C.SHF_ALLOC),
                    write=bool(fl & C.SHF_WRITE),
                    execute=bool(fl & C.SHF_EXECINSTR),
                    compressed=bool(fl & C.SHF_COMPRESSED) or name.startswith(".zdebug"),
                    raw_type=t,
                    raw_flags=fl,
                )
            )
        self._shdrs = raw
        return out

    def section_headers(self) -> list[Shdr]:
        """The raw section headers, index for index with :meth:`sections` (``[]`` when unusable):
        the fields the neutral ``Section`` does not carry (link, info, alignment, entsize)."""
        self.sections()
        return list(self._shdrs)

    def _cstr(self, table: tuple[int, int], off: int) -> str:
        """NUL-terminated string at ``off`` of a string table (file offset, size); never raises."""
        toff, tsize = table
        if off >= tsize:
            return f"<bad name @{off:#x}>"
        start = toff + off
        end_lim = toff + tsize
        end = self._find_nul(start, end_lim)
        return bytes(self.data[start:end]).decode("utf-8", "replace")

    def _find_nul(self, start: int, limit: int) -> int:
        buf = self._buf
        if isinstance(buf, (bytes, mmap.mmap)):
            i = buf.find(b"\0", self.base + start, self.base + limit)
            return limit if i < 0 else i - self.base
        i = bytes(self.data[start:limit]).find(b"\0")  # pragma: no cover - data is bytes or mmap
        return limit if i < 0 else start + i  # pragma: no cover

    # -- compressed sections ----------------------------------------------------------------------
    def compression_header(self, sec: Section) -> tuple[int, int] | None:
        """(ELFCOMPRESS_* type, uncompressed size) of a compressed section, or None; never inflates."""
        if not sec.compressed:
            return None
        raw = self.section_data(sec)
        if sec.raw_flags & C.SHF_COMPRESSED:
            if len(raw) < self.layout.chdr.size:
                return None
            return self._chdr(raw)
        if len(raw) < 12 or bytes(raw[:4]) != b"ZLIB":
            return None
        return C.ELFCOMPRESS_ZLIB, int.from_bytes(raw[4:12], "big")

    def _chdr(self, raw: memoryview) -> tuple[int, int]:
        """(ch_type, ch_size) of an Elf_Chdr (Elf64 has a reserved word between them)."""
        v = self.layout.chdr.unpack_from(raw, 0)
        return (v[0], v[2]) if self.layout.is64 else (v[0], v[1])

    def section_bytes(self, sec: Section, decompress: bool = True) -> bytes:
        """Bytes of a section, inflated when SHF_COMPRESSED (zlib/zstd) or ``.zdebug_*`` (zlib)."""
        raw = self.section_data(sec)
        if not decompress or not sec.compressed:
            return bytes(raw)
        what = f"section {sec.name}"
        if sec.raw_flags & C.SHF_COMPRESSED:
            hsz = self.layout.chdr.size
            if len(raw) < hsz:
                raise FormatError("compressed section shorter than Elf_Chdr", sec.offset, len(raw), what=what)
            ctype, usize = self._chdr(raw)
        else:
            hsz = 12
            if len(raw) < hsz or bytes(raw[:4]) != b"ZLIB":
                raise FormatError("missing ZLIB header in .zdebug section", sec.offset, what=what)
            ctype, usize = C.ELFCOMPRESS_ZLIB, int.from_bytes(raw[4:12], "big")
        payload = raw[hsz:]
        if usize > C.MAX_INFLATE or usize > len(payload) * C.MAX_INFLATE_RATIO + C.INFLATE_SLACK:
            raise FormatError(
                f"declared uncompressed size {usize:#x} too large for {len(payload):#x} compressed bytes",
                sec.offset,
                what=what,
            )
        if ctype == C.ELFCOMPRESS_ZLIB:
            try:
                d = zlib.decompressobj()
                out = d.decompress(payload, usize or 1)  # max_length 0 would mean "unbounded"
            except zlib.error as e:
                raise FormatError(f"zlib: {e}", sec.offset + hsz, what=what) from e
            if not d.eof:
                raise FormatError(
                    f"zlib stream does not end within the declared size {usize:#x}", sec.offset, what=what
                )
        elif ctype == C.ELFCOMPRESS_ZSTD:
            out = self._unzstd(bytes(payload), usize, sec.offset + hsz, what)
        else:
            raise FormatError("unknown compression type", sec.offset, ctype, what=what)
        if len(out) != usize:
            raise FormatError(
                f"inflated to {len(out):#x} bytes, header says {usize:#x}", sec.offset, what=what
            )
        return out

    @staticmethod
    def _unzstd(payload: bytes, usize: int, off: int, what: str) -> bytes:
        try:
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError as e:
            raise FormatError("zstd-compressed section needs the 'zstandard' module", off, what=what) from e
        chunks: list[bytes] = []
        got = 0
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(payload))
            while got <= usize:  # read at most one byte more than declared: enough to detect a lie
                chunk = reader.read(usize + 1 - got)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except zstandard.ZstdError as e:
            raise FormatError(f"zstd: {e}", off, what=what) from e
        return b"".join(chunks)

    # -- dynamic table ----------------------------------------------------------------------------
    @cached_property
    def dynamic(self) -> list[tuple[int, int]]:
        """(d_tag, d_val) pairs of PT_DYNAMIC (or the SHT_DYNAMIC section), up to DT_NULL."""
        off = size = None
        for p in self._phdrs:
            if p.type == C.PT_DYNAMIC and p.filesz:
                off, size = p.offset, p.filesz
                break
        if off is None:
            for s in self.sections():
                if s.raw_type == C.SHT_DYNAMIC and s.file_size:
                    off, size = s.offset, s.file_size
                    break
        if off is None or size is None:
            return []
        dyn = self.layout.dyn
        ent = dyn.size
        out = []
        for i in range(min(size, self.length - off) // ent):
            tag, val = dyn.unpack_from(self.data, off + i * ent)
            if tag == C.DT_NULL:
                break
            out.append((tag & ((1 << self.bits) - 1), val))
        return out

    def dynamic_value(self, tag: int) -> int | None:
        for t, v in self.dynamic:
            if t == tag:
                return v
        return None

    def _dyn_string(self, val: int) -> str | None:
        strtab, strsz = self.dynamic_value(C.DT_STRTAB), self.dynamic_value(C.DT_STRSZ)
        if strtab is None:
            return None
        off = self.vaddr_to_offset(strtab)
        if off is None:
            self.warnings.append(f"DT_STRTAB {strtab:#x} not in the file")
            return None
        size = min(strsz if strsz is not None else self.length - off, self.length - off)
        return self._cstr((off, size), val)

    @cached_property
    def soname(self) -> str | None:
        v = self.dynamic_value(C.DT_SONAME)
        return None if v is None else self._dyn_string(v)

    @cached_property
    def needed(self) -> list[str]:
        out = []
        for t, v in self.dynamic:
            if t == C.DT_NEEDED:
                s = self._dyn_string(v)
                if s is not None:
                    out.append(s)
        return out

    @cached_property
    def interpreter(self) -> str | None:
        for p in self._phdrs:
            if p.type == C.PT_INTERP and p.filesz:
                return self._cstr((p.offset, p.filesz), 0)
        return None

    # -- symbols ----------------------------------------------------------------------------------
    def _symtab_section(self, sht: int) -> Section | None:
        for s in self.sections():
            if s.raw_type == sht:
                return s
        return None

    def _read_symtab(self, sec: Section) -> list[Symbol]:
        sh = self.section_headers()[sec.index]
        link, entsize = sh.link, sh.entsize
        secs = self.sections()
        strtab: tuple[int, int] | None = None
        if 0 < link < len(secs) and secs[link].file_size:
            strtab = (secs[link].offset, secs[link].file_size)
        else:
            self.warnings.append(f"{sec.name}: bad string table link {link}")
        return self._read_syms(sec.offset, sec.file_size, entsize, strtab, sec.name)

    def symbol(self, name: str) -> Symbol | None:
        """One symbol by name without decoding the whole table (strtab search + one numpy compare)."""
        if "_symbols" in self.__dict__:
            return super().symbol(name)
        sec = self._symtab_section(C.SHT_SYMTAB)
        if sec is None:
            return super().symbol(name)
        sh = self.section_headers()[sec.index]
        link, entsize = sh.link, sh.entsize
        secs = self.sections()
        if not (0 < link < len(secs) and secs[link].file_size):
            return super().symbol(name)
        st = secs[link]
        strs = self.data[st.offset : st.offset + min(st.file_size, max(0, self.length - st.offset))]
        needle = name.encode() + b"\0"
        offs: list[int] = []
        raw = bytes(strs)
        i = raw.find(b"\0" + needle)
        while i >= 0 and len(offs) < 64:
            offs.append(i + 1)
            i = raw.find(b"\0" + needle, i + 1)
        if raw.startswith(needle):
            offs.insert(0, 0)
        if not offs:
            return None
        arr = self._sym_array(sec.offset, sec.file_size, entsize)
        if arr is None:
            return None
        import numpy as np

        hits = np.flatnonzero(np.isin(arr["name"], np.array(offs, dtype=np.uint64)))
        if not len(hits):
            return None
        r = arr[int(hits[0])]
        info, shndx = int(r["info"]), int(r["shndx"])
        return Symbol(
            name, int(r["value"]), int(r["size"]), _STT_KIND.get(info & 0xF, "other"),
            None if shndx == C.SHN_UNDEF or shndx >= C.SHN_LORESERVE else shndx,
            (info >> 4) != C.STB_LOCAL,
        )

    def _sym_array(self, off: int, size: int, entsize: int) -> Any:
        """Elf_Sym records after the null entry as a numpy structured array (None if unusable)."""
        import numpy as np

        want = self.layout.sym.size
        if entsize and entsize < want:
            return None
        ent = entsize or want
        size = max(0, min(size, self.length - off))
        n = size // ent
        if n <= 1:
            return None
        fields = self.layout.sym_dtype_fields()
        dt = np.dtype({"names": [f[0] for f in fields], "formats": [f[1] for f in fields], "itemsize": ent})
        return np.frombuffer(self.data, dtype=dt, count=n - 1, offset=off + ent)

    def _read_syms(
        self, off: int, size: int, entsize: int, strtab: tuple[int, int] | None, what: str
    ) -> list[Symbol]:
        """Decode ``size`` bytes of Elf_Sym at ``off`` (entry 0, the null symbol, is skipped)."""
        want = self.layout.sym.size
        if entsize and entsize < want:
            self.warnings.append(f"{what}: sh_entsize {entsize} too small")
            return []
        arr = self._sym_array(off, size, entsize)
        if arr is None:
            return []
        strs = bytes(self.data[strtab[0] : strtab[0] + strtab[1]]) if strtab else b""
        tsize = len(strs)
        out = []
        kinds = _STT_KIND
        for nm, value, sz, info, shndx in zip(
            arr["name"].tolist(),
            arr["value"].tolist(),
            arr["size"].tolist(),
            arr["info"].tolist(),
            arr["shndx"].tolist(),
            strict=True,
        ):
            if nm < tsize:
                end = strs.find(b"\0", nm)
                name = strs[nm : end if end >= 0 else tsize].decode("utf-8", "replace")
            else:
                name = f"<bad name @{nm:#x}>"
            out.append(
                Symbol(
                    name,
                    value,
                    sz,
                    kinds.get(info & 0xF, "other"),
                    None if shndx == C.SHN_UNDEF or shndx >= C.SHN_LORESERVE else shndx,
                    (info >> 4) != C.STB_LOCAL,
                )
            )
        return out

    def _load_symbols(self) -> list[Symbol]:
        sec = self._symtab_section(C.SHT_SYMTAB)
        return self._read_symtab(sec) if sec else self.dynamic_symbols()

    def dynamic_symbols(self) -> list[Symbol]:
        """.dynsym; without section headers, found through DT_SYMTAB and counted from DT_(GNU_)HASH."""
        return self._dynamic_symbols

    @cached_property
    def _dynamic_symbols(self) -> list[Symbol]:
        sec = self._symtab_section(C.SHT_DYNSYM)
        if sec:
            return self._read_symtab(sec)
        return self._dynsym_from_dynamic()

    def _dynsym_from_dynamic(self) -> list[Symbol]:
        symtab, strtab = self.dynamic_value(C.DT_SYMTAB), self.dynamic_value(C.DT_STRTAB)
        if symtab is None or strtab is None:
            return []
        soff, toff = self.vaddr_to_offset(symtab), self.vaddr_to_offset(strtab)
        if soff is None or toff is None:
            self.warnings.append("DT_SYMTAB/DT_STRTAB not backed by file data")
            return []
        strsz = self.dynamic_value(C.DT_STRSZ)
        tsize = min(strsz if strsz is not None else self.length - toff, self.length - toff)
        ent = self.dynamic_value(C.DT_SYMENT) or self.layout.sym.size
        try:
            count = self._dynsym_count((self.length - soff) // max(ent, 1))
        except FormatError as e:
            self.warnings.append(f"dynamic symbol count: {e}")
            return []
        if count is None:
            return []
        return self._read_syms(soff, count * ent, ent, (toff, tsize), "DT_SYMTAB")

    def _dynsym_count(self, limit: int) -> int | None:
        """Number of dynamic symbols: DT_HASH nchain, or the end of the longest DT_GNU_HASH chain."""
        h = self.dynamic_value(C.DT_HASH)
        if h is not None:
            off = self.vaddr_to_offset(h)
            if off is not None:
                return min(self.u32(off + 4), limit)
        g = self.dynamic_value(C.DT_GNU_HASH)
        if g is None:
            return None
        off = self.vaddr_to_offset(g)
        if off is None:
            return None
        nbuckets, symoffset, bloom_size, _shift = self.unpack("IIII", off, "DT_GNU_HASH")
        if nbuckets * 4 > self.length or bloom_size * self.ptr_size > self.length:
            raise FormatError("DT_GNU_HASH sizes exceed the file", off, nbuckets)
        boff = off + 16 + bloom_size * self.ptr_size
        buckets = self.unpack(f"{nbuckets}I", boff, "DT_GNU_HASH buckets") if nbuckets else ()
        last = max(buckets, default=0)
        if last < symoffset:
            return min(symoffset, limit)
        coff = boff + nbuckets * 4
        for i in range(last, limit):  # the chain ends at the first hash with bit 0 set
            if self.u32(coff + (i - symoffset) * 4) & 1:
                return i + 1
        return limit

    # -- notes ------------------------------------------------------------------------------------
    def _parse_notes(self, off: int, size: int, align: int, where: str, seen: set[int]) -> list[Note]:
        notes, overrun = walk_notes(self.data, off, min(off + size, self.length), self._e, align)
        if overrun is not None:
            self.warnings.append(f"note at {overrun:#x} ({where or 'PT_NOTE'}) runs past its container")
        out = []
        for n in notes:
            if n.offset not in seen:
                seen.add(n.offset)
                out.append(Note(n.owner, n.type, n.desc, where))
        return out

    def _load_notes(self) -> list[Note]:
        seen: set[int] = set()
        out: list[Note] = []
        shdrs = self.section_headers()
        for s in self.sections():
            if s.raw_type == C.SHT_NOTE and s.file_size:
                out += self._parse_notes(s.offset, s.file_size, shdrs[s.index].addralign, s.name, seen)
        for ph in self._phdrs:
            if ph.type == C.PT_NOTE and ph.filesz:
                out += self._parse_notes(ph.offset, ph.filesz, ph.align, "", seen)
        return out

    def note(self, owner: str, ntype: int) -> Note | None:
        for n in self.notes():
            if n.owner == owner and n.type == ntype:
                return n
        return None
