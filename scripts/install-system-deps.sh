#!/usr/bin/env bash
# System tools the tests compare against (real binutils, gdb, llvm-symbolizer, perf, elfutils'
# debuginfod-find and debuginfod, Debian's Go 1.19, headless Chromium, a ppc64le cross gcc, npm for
# speedscope's published JSON schema) and the HTTP load generators of benchmarks/serve.py (wrk, ab).
# Skips apt when all are present.
set -euo pipefail
need=()
command -v gdb >/dev/null || need+=(gdb)
command -v readelf >/dev/null || need+=(binutils)
command -v llvm-symbolizer >/dev/null || need+=(llvm)
command -v perf >/dev/null || need+=(linux-perf)
command -v debuginfod-find >/dev/null || need+=(debuginfod elfutils)
command -v debuginfod >/dev/null || need+=(debuginfod)
command -v wrk >/dev/null || need+=(wrk)
command -v ab >/dev/null || need+=(apache2-utils)  # benchmarks/serve.py: HEAD requests (wrk cannot)
command -v chromium >/dev/null || need+=(chromium chromium-driver)
command -v gcc >/dev/null || need+=(gcc)
command -v ld64.lld-16 >/dev/null || need+=(lld-16 llvm-16)
command -v llvm-dwarfdump >/dev/null || need+=(llvm)
# the flame graph tests fetch speedscope's file-format schema with `npm pack speedscope@1.25.0`
command -v npm >/dev/null || need+=(npm)
[ -x /usr/lib/go-1.19/bin/go ] || need+=(golang-1.19-go)
# external linking for linux/ppc64le: the fixture whose text is split into several sections
command -v powerpc64le-linux-gnu-gcc >/dev/null || need+=(gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
