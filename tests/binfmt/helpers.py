"""Helpers shared by the Mach-O and PE reader tests (test_macho.py, test_pe.py).

Ground truth is Go's own ``debug/macho`` and ``debug/pe`` (``GT_SOURCE``, built once and cached by its
source hash) and the LLVM tools; the hostile-input helpers state the one rule every reader keeps: only
``SymkeepError`` may come out of a parser.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from symkeep.errors import SymkeepError

try:
    from fixtures.factory import FixtureSpec, FixtureUnavailable, build_fixture, fixtures_dir, toolchain
except ImportError:  # pytest put tests/ (not the repo root) on sys.path
    from fixtures.factory import (  # type: ignore[no-redef]
        FixtureSpec,
        FixtureUnavailable,
        build_fixture,
        fixtures_dir,
        toolchain,
    )

TOOLCHAINS = ("1.21", "1.27")
VARIANTS = ("default", "sw")


def ids(c: tuple[str, ...]) -> str:
    return "-".join(c)


# -- fixtures and ground truth --------------------------------------------------------------------
def fixture(tc: str, goos: str, goarch: str, variant: str) -> Path:
    try:
        return build_fixture(FixtureSpec(tc, goos, goarch, variant))
    except FixtureUnavailable as e:
        pytest.skip(str(e))


@functools.cache
def gt_tool() -> Path:
    """Build the debug/macho + debug/pe dumper once (cached by its source hash)."""
    from symkeep.build.gobuild import build

    src = GT_SOURCE
    tc = toolchain("1.27")
    key = hashlib.sha256((src + tc.version).encode()).hexdigest()[:16]
    out = fixtures_dir().parent / "test-macho-pe" / f"gt-{key}"
    if out.is_file():
        return out
    work = out.parent / f"gt-src-{key}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.go").write_text(src)
    (work / "go.mod").write_text("module symkeep.test/gt\n\ngo 1.21\n")
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # pytest-xdist workers may race here
    build(tc, work, tmp)
    tmp.replace(out)
    return out


@functools.cache
def go_dump(kind: str, path: Path) -> Any:
    res = subprocess.run([str(gt_tool()), kind, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def go_testdata(pkg: str) -> Path:
    d = toolchain("1.27").goroot / "src" / "debug" / pkg / "testdata"
    if not d.is_dir():
        pytest.skip(f"no {d}")
    return d


def llvm_tool(name: str) -> str:
    """``name`` or a versioned Debian ``name-14/15/16``; skip when LLVM is not installed."""
    for cand in (name, f"{name}-14", f"{name}-15", f"{name}-16"):
        p = shutil.which(cand)
        if p:
            return p
    pytest.skip(f"{name} not installed (Debian package llvm)")


def llvm_mc_assemble(asm: str, triple: str, src: Path, out: Path) -> Path:
    """Assemble ``asm`` (written to ``src``) for ``triple`` into the object file ``out``."""
    mc = llvm_tool("llvm-mc")
    src.write_text(asm)
    res = subprocess.run(
        [mc, f"-triple={triple}", "-filetype=obj", "-o", str(out), str(src)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    return out


# -- hostile input --------------------------------------------------------------------------------
def typed_errors_only(blobs: Iterable[bytes], check: Callable[[bytes], object]) -> None:
    """Run ``check`` on every blob: it may fail, but only with a SymkeepError."""
    for blob in blobs:
        with contextlib.suppress(SymkeepError):
            check(blob)


def truncations(data: bytes, cuts: Iterable[int] | None = None) -> Iterator[bytes]:
    """``data`` cut at each of ``cuts`` (default: at every offset)."""
    for cut in range(len(data)) if cuts is None else cuts:
        yield data[:cut]


def ff_bytes(data: bytes) -> Iterator[bytes]:
    """``data`` with one byte set to 0xff, for every byte."""
    for i in range(len(data)):
        yield data[:i] + b"\xff" + data[i + 1 :]


def cut_points(n: int, head: int, step: int) -> list[int]:
    """Every ``step``-th offset in the first ``head`` bytes plus ~300 spread over all ``n``."""
    return sorted(set(list(range(0, head, step)) + list(range(0, n, max(1, n // 300)))))


def patch(data: bytes, off: int, fmt: str, val: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, val)
    return bytes(b)


def mutate(data: bytes, muts: Iterable[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    for off, val in muts:
        b[off] = val
    return bytes(b)


GT_SOURCE = r"""// Ground truth for symkeep's Mach-O and PE readers: Go's own debug/macho and debug/pe, as JSON.
package main

import (
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"os"
)

type mSeg struct {
	Name                         string
	Addr, Memsz, Offset, Filesz  uint64
	Maxprot, Prot, Nsect, Flag   uint32
}
type mSec struct {
	Name, Seg          string
	Addr, Size         uint64
	Offset, Flags      uint32
}
type mSym struct {
	Name  string
	Type  uint8
	Sect  uint8
	Desc  uint16
	Value uint64
}
type mFile struct {
	Cpu, SubCpu, Type, Flags, Ncmd uint32
	BigEndian                      bool
	Segments                       []mSeg
	Sections                       []mSec
	HasSymtab                      bool
	Symbols                        []mSym
}

func dumpMacho(f *macho.File) mFile {
	out := mFile{Cpu: uint32(f.Cpu), SubCpu: f.SubCpu, Type: uint32(f.Type), Flags: f.Flags, Ncmd: f.Ncmd,
		BigEndian: f.ByteOrder.String() == "BigEndian", Segments: []mSeg{}, Sections: []mSec{}, Symbols: []mSym{}}
	for _, l := range f.Loads {
		if s, ok := l.(*macho.Segment); ok {
			out.Segments = append(out.Segments, mSeg{s.Name, s.Addr, s.Memsz, s.Offset, s.Filesz, s.Maxprot, s.Prot, s.Nsect, s.Flag})
		}
	}
	for _, s := range f.Sections {
		out.Sections = append(out.Sections, mSec{s.Name, s.Seg, s.Addr, s.Size, s.Offset, s.Flags})
	}
	if f.Symtab != nil {
		out.HasSymtab = true
		for _, s := range f.Symtab.Syms {
			out.Symbols = append(out.Symbols, mSym{s.Name, s.Type, s.Sect, s.Desc, s.Value})
		}
	}
	return out
}

type fatArch struct {
	Cpu, SubCpu   uint32
	Offset, Size  uint32
	File          mFile
}

type pSec struct {
	Name                                                     string
	VirtualSize, VirtualAddress, Size, Offset, Characteristics uint32
}
type pSym struct {
	Name          string
	Value         uint32
	SectionNumber int16
	Type          uint16
	StorageClass  uint8
}
type pFile struct {
	Machine, NumberOfSections, Characteristics uint16
	PointerToSymbolTable, NumberOfSymbols      uint32
	Magic                                      uint16
	ImageBase                                  uint64
	AddressOfEntryPoint                        uint32
	Sections                                   []pSec
	Symbols                                    []pSym
	COFFSymbols                                int
}

func main() {
	kind, path := os.Args[1], os.Args[2]
	var v any
	switch kind {
	case "macho":
		f, err := macho.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		v = dumpMacho(f)
	case "fat":
		ff, err := macho.OpenFat(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		arches := []fatArch{}
		for _, a := range ff.Arches {
			arches = append(arches, fatArch{uint32(a.Cpu), a.SubCpu, a.Offset, a.Size, dumpMacho(a.File)})
		}
		v = arches
	case "pe":
		f, err := pe.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		o := pFile{Machine: f.Machine, NumberOfSections: f.NumberOfSections, Characteristics: f.Characteristics,
			PointerToSymbolTable: f.PointerToSymbolTable, NumberOfSymbols: f.NumberOfSymbols,
			Sections: []pSec{}, Symbols: []pSym{}, COFFSymbols: len(f.COFFSymbols)}
		switch oh := f.OptionalHeader.(type) {
		case *pe.OptionalHeader32:
			o.Magic, o.ImageBase, o.AddressOfEntryPoint = oh.Magic, uint64(oh.ImageBase), oh.AddressOfEntryPoint
		case *pe.OptionalHeader64:
			o.Magic, o.ImageBase, o.AddressOfEntryPoint = oh.Magic, oh.ImageBase, oh.AddressOfEntryPoint
		}
		for _, s := range f.Sections {
			o.Sections = append(o.Sections, pSec{s.Name, s.VirtualSize, s.VirtualAddress, s.Size, s.Offset, s.Characteristics})
		}
		for _, s := range f.Symbols {
			o.Symbols = append(o.Symbols, pSym{s.Name, s.Value, s.SectionNumber, s.Type, s.StorageClass})
		}
		v = o
	default:
		fmt.Fprintln(os.Stderr, "usage: gt macho|fat|pe FILE")
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"""
