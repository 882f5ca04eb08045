"""A minimal Faust agent that only decodes: the baseline of ``benchmarks/throughput.py``.

Run by the throughput benchmark as a subprocess::

    python benchmarks/faust_decode.py BOOTSTRAP PREFIX EXPECTED WEB_PORT DATADIR

It prints one JSON line ``{"first_s", "last_s", "first_count", "count"}`` (perf-counter
seconds) once ``EXPECTED`` events were decoded; the parent then stops it. Session timings
as in docs/architecture.md, "Broker notes" (tansu answers JoinGroup after session_timeout / 2).
"""

from __future__ import annotations

import json
import sys
import time

import faust

from streams.contract.events import TOPICS

BOOTSTRAP, PREFIX, EXPECTED, WEB_PORT, DATADIR = sys.argv[1:6]
expected = int(EXPECTED)

app = faust.App(
    f"{PREFIX}faust-decode",
    broker=f"kafka://{BOOTSTRAP}",
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    broker_rebalance_timeout=6,
    consumer_auto_offset_reset="earliest",
    datadir=DATADIR,
    topic_partitions=4,
    web_port=int(WEB_PORT),
    web_host="127.0.0.1",
)
source = app.topic(*(f"{PREFIX}{t}" for t in TOPICS), value_serializer="raw", key_serializer="raw")
state = {"count": 0, "first_s": 0.0, "done": False}


@app.agent(source)
async def decode(stream: faust.StreamT[bytes]) -> None:
    """Decode every value, count it, and report once all expected events arrived."""
    async for value in stream:
        json.loads(value)
        state["count"] += 1
        if state["count"] == 1:
            state["first_s"] = time.perf_counter()
        if state["count"] >= expected and not state["done"]:
            state["done"] = True
            print(
                json.dumps(
                    {
                        "first_s": state["first_s"],
                        "last_s": time.perf_counter(),
                        "first_count": 1,
                        "count": state["count"],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    sys.argv = [
        sys.argv[0],
        "worker",
        "-l",
        "warn",
        "--web-port",
        WEB_PORT,
        "--web-host",
        "127.0.0.1",
    ]
    app.main()
