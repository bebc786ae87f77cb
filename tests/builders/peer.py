"""Another process on the same NB store: commits once, then waits to see the test process's commit.

Run as `python -m tests.builders.peer URL`. Prints `committed <rev>`, then `saw <rev>` when the object
("port", "from-test") shows up in its watch; exits 1 if it never does. With `--commit-and-hang` it
only commits, prints, and sleeps until killed (the test SIGKILLs it to prove the commit was durable).
"""

from __future__ import annotations

import sys
import time

from steerflow.model import schema
from steerflow.nbdb import Put, StoreError, open_store

WAIT = 20.0


def main(argv: list[str]) -> int:
    store = open_store(argv[0])
    revision = store.commit([Put(schema.PORT, "from-peer", {"written_by": "peer", "list": [1, 2]})])
    print("committed", revision, flush=True)
    if "--commit-and-hang" in argv:
        time.sleep(WAIT)
        return 0
    deadline = time.monotonic() + WAIT
    since = revision
    while time.monotonic() < deadline:
        try:
            batch = store.watch(since, timeout=1.0)
        except StoreError:
            continue
        for event in batch.events:
            if (event.kind, event.id) == (schema.PORT, "from-test"):
                print("saw", event.revision, flush=True)
                return 0
        since = batch.revision
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
