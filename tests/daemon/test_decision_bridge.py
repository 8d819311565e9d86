"""The bridge that hands the scheduler thread's decisions to the API's event loop."""
import asyncio
import threading
from concurrent.futures import Future

import pytest

from galerna.api.bridge import DecisionBridge


def test_a_batch_of_decisions_wakes_the_loop_once_and_each_waiter_gets_its_own():
    async def main():
        loop = asyncio.get_running_loop()
        bridge = DecisionBridge(loop)
        wakeups = 0
        real = loop.call_soon_threadsafe

        def counting(cb, *args):
            nonlocal wakeups
            wakeups += 1
            return real(cb, *args)

        loop.call_soon_threadsafe = counting
        futs = [Future() for _ in range(5)]
        waiters = [bridge.watch(f) for f in futs]

        def scheduler_thread():  # one batch: every decision set before the loop runs again
            for i, f in enumerate(futs[:4]):
                f.set_result(i * 10)
            futs[4].set_exception(ValueError("refused"))

        t = threading.Thread(target=scheduler_thread)
        t.start()
        t.join()
        got = await asyncio.gather(*waiters, return_exceptions=True)
        return got, wakeups

    got, wakeups = asyncio.run(main())
    assert got[:4] == [0, 10, 20, 30]
    assert isinstance(got[4], ValueError) and str(got[4]) == "refused"
    assert wakeups == 1


def test_a_decision_that_comes_after_its_request_timed_out_is_dropped():
    async def main():
        bridge = DecisionBridge(asyncio.get_running_loop())
        late, on_time = Future(), Future()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await bridge.watch(late)
        waiter = bridge.watch(on_time)
        threading.Thread(target=lambda: (late.set_result("late"), on_time.set_result("ok"))).start()
        return await asyncio.wait_for(waiter, 5)

    assert asyncio.run(main()) == "ok"
