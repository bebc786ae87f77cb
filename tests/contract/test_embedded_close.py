"""Closing the embedded store while other threads use it: they get a clear error, the process lives on
(closing a connection another thread was stepping a statement on crashed the interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROUNDS = 10  # enough to crash every run before the fix (5 of 5)

_HAMMER = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from steerflow.nbdb.api import Put, StoreError
    from steerflow.nbdb.embedded import EmbeddedStore

    def use(store, stopped, outcomes):
        n = 0
        while not stopped.is_set():
            try:
                store.commit([Put("network", f"{threading.get_ident()}-{n % 50}", {"pad": "x" * 2000})])
                store.list("network")
            except StoreError:
                outcomes.append("refused")
                return
            n += 1
        outcomes.append("stopped")

    for round in range(int(sys.argv[2])):
        store = EmbeddedStore(Path(sys.argv[1]) / f"nb{round}.db")
        stopped, outcomes = threading.Event(), []
        users = [threading.Thread(target=use, args=(store, stopped, outcomes)) for _ in range(4)]
        for user in users:
            user.start()
        time.sleep(0.05)
        store.close()
        stopped.set()
        for user in users:
            user.join()
        assert len(outcomes) == 4, outcomes
    print("closed", sys.argv[2], "times")
    """
)


def test_closing_while_threads_commit_and_read_refuses_them_and_does_not_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _HAMMER, str(tmp_path), str(ROUNDS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert f"closed {ROUNDS} times" in done.stdout
