"""ELF numbers (from the System V gABI and the GNU/Linux extensions), kept apart from the logic."""

from __future__ import annotations

ELF_MAGIC = b"\x7fELF"
EI_NIDENT = 16
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2

# e_type
ET_NONE = 0
ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4

# e_machine -> GOARCH (the endianness / class dependent ones are resolved in code)
EM_386 = 3
EM_MIPS = 8
EM_MIPS_RS3_LE = 10
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258

# Record layouts (and so their sizes) are in ``elfstructs``; note types in ``notes``.

# Special section indexes
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF

# sh_type
SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_HASH = 5
SHT_DYNAMIC = 6
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_REL = 9
SHT_DYNSYM = 11

# sh_flags
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800

# Elf_Chdr ch_type
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2

# p_type
PT_NULL = 0
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_SHLIB = 5
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552
PT_NAMES: dict[int, str] = {
    PT_NULL: "NULL",
    PT_LOAD: "LOAD",
    PT_DYNAMIC: "DYNAMIC",
    PT_INTERP: "INTERP",
    PT_NOTE: "NOTE",
    PT_SHLIB: "SHLIB",
    PT_PHDR: "PHDR",
    PT_TLS: "TLS",
    0x6474E550: "GNU_EH_FRAME",
    PT_GNU_STACK: "GNU_STACK",
    PT_GNU_RELRO: "GNU_RELRO",
    0x6474E553: "GNU_PROPERTY",
    0x6474E554: "GNU_SFRAME",
    0x65A3DBE6: "OPENBSD_RANDOMIZE",
    0x65A3DBE7: "OPENBSD_WXNEEDED",
    0x70000000: "LOPROC+0x0",  # ARM_EXIDX / MIPS_REGINFO share this number
    0x70000001: "LOPROC+0x1",
    0x70000003: "LOPROC+0x3",
}
PT_ARCH_NAMES: dict[tuple[int, int], str] = {
    (EM_ARM, 0x70000001): "EXIDX",
    (EM_AARCH64, 0x70000002): "AARCH64_MEMTAG_MTE",
    (EM_AARCH64, 0x70000003): "AARCH64_PAC_CFI",  # not a readelf name; rarely seen
    (EM_MIPS, 0x70000000): "REGINFO",
    (EM_MIPS, 0x70000002): "OPTIONS",
    (EM_MIPS, 0x70000003): "ABIFLAGS",
    (EM_RISCV, 0x70000003): "RISCV_ATTRIBUTES",
}

# p_flags
PF_X = 0x1
PF_W = 0x2
PF_R = 0x4

# d_tag
DT_NULL = 0
DT_NEEDED = 1
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SYMENT = 11
DT_SONAME = 14
DT_FLAGS = 30
DT_GNU_HASH = 0x6FFFFEF5
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000

# Symbols
STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4
STT_TLS = 6
STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

# Decompression limits: refuse a declared size above ratio * compressed + slack, or above the cap.
MAX_INFLATE_RATIO = 64
INFLATE_SLACK = 1 << 20
MAX_INFLATE = 2 << 30
PAGE = 0x1000
# Program headers beyond this are not plausible (real files have a dozen); bounds per-lookup scans.
MAX_PHNUM = 4096
