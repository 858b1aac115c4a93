from __future__ import annotations

import pytest

from symkeep.errors import UsageError
from symkeep.matrix.variants import DEFAULT_VARIANTS, parse_variant, select_variants


def test_default_set_covers_the_issue() -> None:
    labels = {v.name for v in DEFAULT_VARIANTS}
    assert {"default", "s", "w", "sw", "s_w0", "sw_trimpath", "pie", "pie_sw", "extlink", "extlink_sw", "gobuildid",
            "noinline", "strip", "split", "restore"} <= labels
    assert next(v for v in DEFAULT_VARIANTS if v.name == "extlink").cgo


def test_select_adds_bases_and_default() -> None:
    names = [v.name for v in select_variants("restore")]
    assert names[0] == "default" and "sw" in names and names[-1] == "restore"
    names = [v.name for v in select_variants("+tiny=-ldflags='-s -w' -trimpath")]
    assert names[-1] == "tiny" and len(names) == len(DEFAULT_VARIANTS) + 1


def test_custom_variant_with_post_step() -> None:
    base, v = parse_variant("t=-ldflags='-s -w' -trimpath | post:strip")
    assert base.name == "t.base" and base.ldflags == "-s -w" and base.trimpath
    assert v.post == "strip" and v.base == "t.base"
    names = [x.name for x in select_variants("t=-ldflags=-w|post:split")]
    assert names == ["default", "t.base", "t"]


@pytest.mark.parametrize("bad", ["nosuch", "x=notaflag", "x=|post:zip", "=-ldflags=-s", "x=-ldflags='-s"])
def test_bad_variants(bad: str) -> None:
    with pytest.raises(UsageError):
        select_variants(bad)
