"""The return-address rule over a function table (numpy only: shared by the engine and a loaded index)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["functions_of"]


def functions_of(entries: npt.NDArray[np.uint64], ends: npt.NDArray[np.uint64], pcs: npt.NDArray[np.uint64],
                 return_address: bool) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """:meth:`OpenedBinary.functions_of` over saved ``entries`` (nfunc + 1) and range ``ends`` (nfunc):
    the one return-address rule, also used by a symbol index loaded without the binary."""
    n = len(ends)
    idx = np.searchsorted(entries, pcs, side="right").astype(np.int64) - 1
    valid = (idx >= 0) & (idx < n)
    valid &= pcs < ends[np.clip(idx, 0, n - 1)]
    if return_address:
        start = entries[np.clip(idx, 0, n)]
        pcs = np.where(valid & (pcs > start), pcs - np.uint64(1), pcs)
    return pcs, idx, valid
