"""``UiState.heavy``: the UI's job admission (running + waiting slots, 503 beyond), the timeout (413
naming ``--ui-timeout``) and slots that come back when an overrunning job ends."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

from symkeep.errors import LimitError
from symkeep.server.ui.config import UiConfig
from symkeep.server.ui.state import UiState


def test_admission_timeout_and_slots() -> None:
    st = UiState(UiConfig(jobs=1, queue=1, timeout=0.2))
    gate = threading.Event()
    ran: list[str] = []

    def slow(tag: str) -> str:
        gate.wait(30)
        ran.append(tag)
        return tag

    async def main() -> None:
        a = asyncio.ensure_future(st.heavy(slow, "a"))  # runs (and overruns)
        await asyncio.sleep(0.05)
        b = asyncio.ensure_future(st.heavy(slow, "b"))  # waits for the one thread
        await asyncio.sleep(0.05)
        with pytest.raises(web.HTTPServiceUnavailable) as busy:  # no third slot
            await st.heavy(slow, "c")
        assert busy.value.headers["Retry-After"]
        for fut in (a, b):
            with pytest.raises(LimitError, match="--ui-timeout"):
                await fut
        # "b" never started: cancelled with its request, its slot is back; "a" still holds its slot
        with pytest.raises(LimitError):
            await st.heavy(slow, "d")
        gate.set()  # the overrunning job ends and gives its slot back
        t0 = time.monotonic()
        while True:
            try:
                assert await st.heavy(lambda: "e") == "e"
                break
            except web.HTTPServiceUnavailable:
                assert time.monotonic() - t0 < 10
                await asyncio.sleep(0.05)

    failure: list[BaseException] = []

    def run() -> None:  # a thread of its own: Playwright's sync API may own this thread's event loop
        try:
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - re-raised below
            failure.append(e)

    try:
        th = threading.Thread(target=run)
        th.start()
        th.join(60)
        assert not th.is_alive()
        if failure:
            raise failure[0]
    finally:
        gate.set()
        st.close()
    assert "b" not in ran and "a" in ran
