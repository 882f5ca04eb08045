"""Key flood: 200k junk customers, addresses and SKUs in 4 h, then 36 h of normal traffic.

Runs through :class:`~streams.pipeline.replay.ReplayPipeline` (both stages in one process, the
shipped rules, 4 partitions) with the closer split the way Kafka splits it: four
:class:`~streams.pipeline.closer.WindowCloser`, each owning the series of one partials partition.
Each closer also holds its partition's risk shard and scores the orders of its customers,
as the worker's closers do (the records are counted and dropped, as if published).
Not a Kafka worker: the state and the snapshots are the same code, and a Kafka run of
600k events would take the shared machine for too long.
Each variant runs in a fresh subprocess: ``clean`` (40 simulated hours of the default
shop) and ``flood`` (the same, plus 200,000 junk keys in the first 4 hours: each one a
``placed`` and a ``delivered`` order with its own customer, address and SKU, so it opens
price and quantity norms, ``return_rate``/``complaint_rate`` SKU series and burst keys).

Every simulated hour the benchmark snapshots every closer partition and every source
aggregator the way the worker does: ``snapshot()`` in a thread while the main thread
plays the event loop (its longest gap between wake-ups is the stall), then zlib in a
thread (timed apart). At the end it reports RSS (after ``gc.collect()``), the state
held, evictions, the largest snapshot, the longest stall and encode, and pymalloc's
arenas (``sys._debugmallocstats``: bytes in live blocks against free blocks stranded in
arenas that a live object keeps). Then a fresh process restores the variant's final
snapshots, as a restarted worker does, and reports its RSS. Nothing asserts.

    .venv/bin/python benchmarks/key_flood.py [--junk 200000] [--rounds 1] [--rules FILE]
        [--stores] [--no-save]

``--rules`` runs both variants with another rules file, e.g. one whose ``[settings]``
caps (``order_state_max``, ``risk_max_keys``, ``max_series``) are sized to the shop.
``--stores`` also reports, per variant, the live objects each store holds at the end
(``sys.getsizeof`` summed over what it reaches; the risk score's stores and every
attribute of the stage-1 aggregators, summed over partitions): where a flood's memory
stays. It adds a minute or two per variant.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import Report, encode, rss_bytes, traffic

_HOUR_MS = 3_600_000
_FLOOD_HOURS = 4
_TOTAL_HOURS = 40
_BATCH = 2_000
_PARTITIONS = 4

Record = tuple[int, str, bytes, bytes]


def _normal() -> Iterator[Record]:
    for event in traffic(_TOTAL_HOURS / 24):
        yield event.ts_ms, event.topic, event.key.encode(), encode(event)


def _junk(count: int, start_ms: int) -> Iterator[Record]:
    """``count`` distinct customers, addresses and SKUs, evenly over the first 4 hours."""
    span = _FLOOD_HOURS * _HOUR_MS
    for i in range(count):
        ts = start_ms + (i * span) // count
        for status in ("placed", "delivered"):
            order = f"JUNK-{i}-{status[0]}"
            yield (
                ts,
                "orders",
                order.encode(),
                json.dumps(
                    {
                        "event_id": order,
                        "ts": ts,
                        "order_id": order,
                        "status": status,
                        "customer_id": f"JC-{i}",
                        "address_id": f"JA-{i}",
                        "sku": f"JSKU-{i}",
                        "category": "apparel",
                        "region": "north",
                        "carrier": "fastship",
                        "channel": "web",
                        "quantity": 1 + i % 3,
                        "amount": 10.0 + i % 97,
                    },
                    separators=(",", ":"),
                ).encode(),
            )


def _partitioned_pipeline(rules_path: str | None = None) -> Any:
    """A ReplayPipeline whose closer work is split over four closers, as in Kafka."""
    from alerts.text import AlertTexts
    from streams.contract.events import TOPICS
    from streams.pipeline.closer import WindowCloser
    from streams.pipeline.replay import ReplayPipeline, Stage1Output
    from streams.pipeline.wire import closer_partition
    from streams.risk.facts import risk_partition
    from streams.rules.catalogue import load_rules

    class Partitioned(ReplayPipeline):
        def __init__(self) -> None:
            rules = load_rules(rules_path)
            super().__init__(rules, partitions=_PARTITIONS, batch_size=_BATCH)
            self.risk_scored = 0
            self.closers = [
                WindowCloser(
                    rules,
                    dict.fromkeys(TOPICS, _PARTITIONS),
                    AlertTexts(),
                    shards=_PARTITIONS,
                    risk=True,  # each closer scores its customers' orders, as the worker's
                )
                for _ in range(_PARTITIONS)
            ]

        def _deliver(self, out: Stage1Output) -> Iterator[Any]:
            closers = self.closers
            for verdict in out.verdicts:
                owner = closers[closer_partition(verdict.series, _PARTITIONS)]
                yield from owner.on_event_alert(verdict)
            for sealed in out.partials:
                closers[closer_partition(sealed.series, _PARTITIONS)].on_partial(sealed)
            for fact in out.risk_facts:
                risk = closers[risk_partition(fact, _PARTITIONS)].risk
                assert risk is not None
                risk.on_fact(fact)
            for source, mark in out.watermarks:
                for closer in closers:
                    yield from closer.on_watermark(source, mark)
                    assert closer.risk is not None
                    self.risk_scored += len(closer.risk.drain())  # published, not kept
            self.dead_letters.extend(out.dead_letters)
            out.partials.clear()
            out.verdicts.clear()
            out.watermarks.clear()
            out.dead_letters.clear()
            out.risk_facts.clear()

    return Partitioned()


def child(
    junk: int, dump: Path | None = None, rules_path: str | None = None, stores: bool = False
) -> None:
    """Run one variant in this process; print a JSON line. With ``dump``, write the final
    snapshot of every closer and aggregator there (for :func:`restarted`)."""
    from streams.runtime.gc_tuning import tune_gc

    tune_gc()  # as ``aftersales replay`` and the worker do
    pipeline = _partitioned_pipeline(rules_path)
    normal = _normal()
    first = next(normal)
    stream: Iterator[Record] = (
        iter([first, *normal])
        if not junk
        else heapq.merge(iter([first]), normal, _junk(junk, first[0]), key=lambda record: record[0])
    )
    stats: dict[str, Any] = {
        "snapshots": 0,
        "max_bytes": 0,
        "max_encode_s": 0.0,
        "max_encode_cpu_s": 0.0,
        "max_stall_s": 0.0,
        "max_stall_which": "",
        "max_compress_s": 0.0,
        "max_which": "",
        "max_encode_which": "",
    }
    next_snapshot = first[0] + _HOUR_MS
    evicted: Counter[str] = Counter()
    alerts = 0

    def records() -> Iterator[tuple[str, bytes, bytes]]:
        nonlocal next_snapshot
        for ts, topic, key, value in stream:
            if ts >= next_snapshot:
                next_snapshot += _HOUR_MS
                _snapshot(pipeline, stats)
            yield topic, key, value

    began = time.perf_counter()
    for _ in pipeline.run(records()):
        alerts += 1
    elapsed = time.perf_counter() - began
    _snapshot(pipeline, stats)
    if dump is not None:
        for name, payload in _final_snapshots(pipeline):
            (dump / name.replace("/", "-")).write_bytes(payload)
    for closer in pipeline.closers:
        for (rule, reason), n in closer.drain_evictions()[0].items():
            evicted[f"{rule}/{reason}"] += n
    for (rule, reason), n in pipeline.stage1.drain_evictions()[0].items():
        evicted[f"{rule}/{reason}"] += n
    stream = iter(())  # drop the merged input: its buffers are not the flood's state
    gc.collect()
    sys._debugmallocstats()  # to stderr, read by the parent: pymalloc's arenas
    print(
        json.dumps(
            {
                "junk": junk,
                "events": pipeline.lines,
                "alerts": alerts,
                "seconds": elapsed,
                "rss": rss_bytes(),
                "peak_rss": _peak_rss(),
                "series": sum(
                    len(bank) for closer in pipeline.closers for bank in closer.banks.values()
                ),
                "dead_letters": len(pipeline.dead_letters),
                "norms": sum(
                    len(states)
                    for agg in pipeline.stage1.aggregators.values()
                    for states in agg.norm_states.values()
                ),
                "evicted": dict(evicted),
                "risk_records": pipeline.risk_scored,
                "risk_customers": sum(len(c.risk.scorer.customers) for c in pipeline.closers),
                "risk_orders": sum(len(c.risk.scorer.orders) for c in pipeline.closers),
                "stores": _store_sizes(pipeline) if stores else {},
                **stats,
            }
        )
    )


#: The risk scorer's per-key stores (``--stores``).
_RISK_STORES = ("customers", "addresses", "orders", "skus", "cells", "categories", "_expiries")


def _deep_size(obj: object, seen: set[int]) -> int:
    """``sys.getsizeof`` of ``obj`` and of what it reaches through containers, slots and
    ``__dict__`` (each object once per ``seen``; a numpy array with the buffer it owns)."""
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, (str, bytes, int, float, bool, type(None))):
            continue
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset, deque)):
            stack.extend(item)
        elif hasattr(item, "dtype"):
            continue  # a numpy array: getsizeof counts the buffer it owns
        else:
            for name in getattr(type(item), "__slots__", ()):
                if hasattr(item, name):
                    stack.append(getattr(item, name))
            if hasattr(item, "__dict__"):
                stack.append(vars(item))
    return total


def _store_sizes(pipeline: Any) -> dict[str, float]:
    """MB of live objects per store at the end of a run (see ``--stores``)."""
    sizes: Counter[str] = Counter()
    for closer in pipeline.closers:
        for name in _RISK_STORES:
            sizes[f"risk.{name}"] += _deep_size(getattr(closer.risk.scorer, name), set())
    for agg in pipeline.stage1.aggregators.values():
        for name, value in vars(agg).items():
            sizes[f"stage1.{name}"] += _deep_size(value, set())
    return {name: round(size / 1e6, 1) for name, size in sizes.most_common() if size >= 5e5}


def _final_snapshots(pipeline: Any) -> Iterator[tuple[str, bytes]]:
    """``(name, snapshot)`` of every closer and aggregator, as a stopping worker writes."""
    for p, closer in enumerate(pipeline.closers):
        yield f"closer/{p}", closer.snapshot()
    for (topic, partition), agg in sorted(pipeline.stage1.aggregators.items()):
        yield f"{topic}/{partition}", agg.snapshot(0)


def restarted(dump: Path, rules_path: str | None = None) -> None:
    """A fresh process restores the snapshots in ``dump`` (what a restarted worker holds);
    print a JSON line with its RSS."""
    from streams.runtime.gc_tuning import tune_gc

    tune_gc()
    pipeline = _partitioned_pipeline(rules_path)
    for path in sorted(dump.iterdir()):
        name, _, index = path.name.rpartition("-")
        if name == "closer":
            pipeline.closers[int(index)].restore(path.read_bytes())
        else:
            pipeline.stage1.aggregator(name, int(index)).restore(path.read_bytes())
    gc.collect()
    sys._debugmallocstats()  # to stderr, read by the parent
    print(
        json.dumps(
            {
                "rss": rss_bytes(),
                "series": sum(len(b) for c in pipeline.closers for b in c.banks.values()),
                "risk_customers": sum(
                    len(c.risk.scorer.customers) for c in pipeline.closers if c.risk is not None
                ),
            }
        )
    )


def _peak_rss() -> int:
    """Peak resident set size of this process (``VmHWM``, Linux ``/proc``)."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _snapshot(pipeline: Any, stats: dict[str, Any]) -> None:
    """Snapshot every closer and aggregator as the worker does (the encode in a thread,
    :mod:`streams.runtime.offloop`); keep the maxima."""
    targets: list[tuple[str, Any]] = [
        (f"closer/{p}", closer) for p, closer in enumerate(pipeline.closers)
    ]
    targets += [(agg.source, agg) for agg in pipeline.stage1.aggregators.values()]
    for name, target in targets:
        encode = target.snapshot if name.startswith("closer") else partial(target.snapshot, 0)
        payload, encode_s, encode_cpu_s, stall_s = _off_loop(encode)
        # CPU time apart: on a shared machine a niced process may wait for a core.
        stats["max_encode_cpu_s"] = max(stats["max_encode_cpu_s"], encode_cpu_s)
        if stall_s > stats["max_stall_s"]:
            stats["max_stall_s"], stats["max_stall_which"] = stall_s, name
        began = time.perf_counter()
        zlib.compress(payload, 3)
        compress_s = time.perf_counter() - began
        stats["snapshots"] += 1
        if len(payload) > stats["max_bytes"]:
            stats["max_bytes"], stats["max_which"] = len(payload), name
        if encode_s > stats["max_encode_s"]:
            stats["max_encode_s"], stats["max_encode_which"] = encode_s, name
        stats["max_compress_s"] = max(stats["max_compress_s"], compress_s)


def _off_loop(encode: Callable[[], bytes]) -> tuple[bytes, float, float, float]:
    """Run ``encode`` in a thread, as the worker does, while this thread plays the event
    loop: it wakes every millisecond and records the longest gap between two wake-ups
    (the loop's stall: the encoder holds the interpreter lock in long C calls).

    Returns the payload, the encode's wall and CPU time, and the longest gap.
    """
    done: dict[str, Any] = {}

    def work() -> None:
        began = time.thread_time()
        done["payload"] = encode()
        done["cpu"] = time.thread_time() - began

    thread = threading.Thread(target=work)
    began = last = time.perf_counter()
    thread.start()
    stall = 0.0
    while thread.is_alive():
        thread.join(0.001)
        now = time.perf_counter()
        stall, last = max(stall, now - last), now
    return done["payload"], time.perf_counter() - began, done["cpu"], stall


def _pymalloc(stats: str) -> dict[str, int]:
    """Arena bytes, bytes in live blocks and in free blocks, from the
    ``sys._debugmallocstats()`` text: RSS that the live blocks do not explain is free
    space stranded in arenas that still hold a live object (fragmentation)."""
    wanted = {
        "# arenas allocated current": "arenas",
        "# bytes in allocated blocks": "live_bytes",
        "# bytes in available blocks": "free_bytes",
    }
    found: dict[str, int] = {}
    for line in stats.splitlines():
        name, _, value = line.partition("=")
        key = wanted.get(name.strip())
        if key is not None and key not in found:
            found[key] = int(value.strip().replace(",", ""))
    return found


def describe(label: str, result: dict[str, Any]) -> list[str]:
    """The two report lines of one variant's result (a ``--child`` JSON line)."""
    return [
        (
            f"{label}: {result['events']:,} events ({result['dead_letters']:,} dead-lettered) in "
            f"{result['seconds']:.0f} s, {result['alerts']:,} alerts; "
            f"end RSS {result['rss'] / 1_048_576:.0f} MiB "
            f"(peak {result.get('peak_rss', 0) / 1_048_576:.0f} MiB); "
            f"held {result['series']:,} series, {result['norms']:,} norms; evicted "
            f"{sum(result['evicted'].values()):,} {json.dumps(result['evicted'])}; "
            f"risk: {result.get('risk_records', 0):,} records, holds "
            f"{result.get('risk_customers', 0):,} customers and "
            f"{result.get('risk_orders', 0):,} open orders"
        ),
        (
            f"{label}: {result['snapshots']} snapshots, largest {result['max_bytes'] / 1e6:.1f} "
            f"MB ({result['max_which']}); encode in a thread: longest loop stall "
            f"{result['max_stall_s']:.3f} s ({result['max_stall_which']}; target <= 1 s), "
            f"longest encode {result['max_encode_s']:.3f} s wall "
            f"({result['max_encode_which']}), {result['max_encode_cpu_s']:.3f} s CPU; "
            f"longest zlib (in a thread) {result['max_compress_s']:.3f} s"
        ),
        (
            f"{label}: pymalloc {result.get('arenas', 0):,} arenas of 1 MiB; "
            f"{result.get('live_bytes', 0) / 1_048_576:.0f} MiB in live blocks, "
            f"{result.get('free_bytes', 0) / 1_048_576:.0f} MiB in free blocks of those arenas"
        ),
        *(
            [f"{label}: live objects per store, MB: {json.dumps(result['stores'])}"]
            if result.get("stores")
            else []
        ),
    ]


def main() -> None:
    """Run the clean and the flooded variant in fresh subprocesses, alternately; compare."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--junk", type=int, default=200_000)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="clean/flood pairs, run alternately (one ratio per pair)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3_600,
        help="seconds per variant (a flood takes 4 min on an idle machine, over 15 on a busy one)",
    )
    parser.add_argument("--child", type=int)
    parser.add_argument("--dump", type=Path, help="(child) write the final snapshots here")
    parser.add_argument("--restored", type=Path, help="(child) restore the snapshots there")
    parser.add_argument("--rules", help="rules file (default: the shipped rules)")
    parser.add_argument("--stores", action="store_true", help="live objects per store")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.restored is not None:
        restarted(args.restored, args.rules)
        return
    if args.child is not None:
        child(args.child, args.dump, args.rules, stores=args.stores)
        return
    report = Report("key-flood")
    report.line(
        f"# ReplayPipeline, {args.rules or 'shipped'} rules, 4 partitions; "
        f"{_TOTAL_HOURS} simulated h "
        f"of the default shop; flood: {args.junk:,} junk keys in the first "
        f"{_FLOOD_HOURS} h; snapshots every simulated hour; 'restarted': a fresh process "
        "restores the final snapshots, as a restarted worker does"
    )
    for _ in range(args.rounds):
        rss: dict[str, int] = {}
        for junk in (0, args.junk):
            label = "flood" if junk else "clean"
            with tempfile.TemporaryDirectory() as dump:
                rules = ["--rules", args.rules] if args.rules else []
                extra = [*rules, *(["--stores"] if args.stores else [])]
                result = _run_child(["--child", str(junk), "--dump", dump, *extra], args.timeout)
                restored = _run_child(["--restored", dump, *rules], args.timeout)
            rss[label], rss[f"{label} restarted"] = result["rss"], restored["rss"]
            for line in describe(label, result):
                report.line(line)
            report.line(
                f"{label} restarted: RSS {restored['rss'] / 1_048_576:.0f} MiB; "
                f"{restored['series']:,} series, {restored['risk_customers']:,} risk customers; "
                f"pymalloc {restored.get('arenas', 0):,} arenas, "
                f"{restored.get('live_bytes', 0) / 1_048_576:.0f} MiB live, "
                f"{restored.get('free_bytes', 0) / 1_048_576:.0f} MiB free"
            )
        report.line(
            f"end RSS flood / clean = {rss['flood'] / rss['clean']:.2f} (target <= 1.5); "
            f"after a restart {rss['flood restarted'] / rss['clean restarted']:.2f}"
        )
    if not args.no_save:
        report.save()


def _run_child(arguments: list[str], timeout: float) -> dict[str, Any]:
    """Run this script with ``arguments`` in a fresh process; its JSON line and pymalloc."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(_pymalloc(done.stderr))
    return result


if __name__ == "__main__":
    main()
