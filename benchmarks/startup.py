"""Start-up cost of `symkeep --help` vs a bare interpreter (the CLI's own share is what we control)."""

from __future__ import annotations

import sys

from benchmarks.common import time_cmd


def main() -> None:
    bare, _ = time_cmd([sys.executable, "-c", "pass"], repeat=15)
    helpt, spread = time_cmd([sys.executable, "-m", "symkeep", "--help"], repeat=15)
    print(f"python -c pass        {bare * 1000:7.1f} ms")
    print(f"symkeep --help        {helpt * 1000:7.1f} ms  (spread {spread * 1000:.1f} ms)")
    print(f"symkeep's own share   {(helpt - bare) * 1000:7.1f} ms   ratio {helpt / bare:.2f}x bare python")


if __name__ == "__main__":
    main()
