"""The risk scorer's packed customers and addresses (streams.risk.customers)."""

from __future__ import annotations

import json
import math
import sys

from streams.risk import RiskFact, RiskScorer
from streams.risk.customers import (
    address_customers,
    address_from_list,
    address_to_list,
    customer,
    customer_addresses,
    customer_from_list,
    customer_to_list,
)

DAY = 86_400_000


def placed(t: int, n: int, address: str) -> RiskFact:
    return RiskFact(
        t, f"O-{n}:placed", "placed", f"O-{n}", "C-1", "S-1", "apparel", "north", "dhl", address,
        30.0 + n, 1,
    )  # fmt: skip


class TestPackedCustomer:
    def test_history_and_first_four_addresses_in_any_script(self) -> None:
        """A customer keeps its counts, its amounts and the first four addresses it used
        (UTF-8, in order; a repeated one once), as the unpacked record did."""
        scorer = RiskScorer()
        addresses = ["北京-朝阳-1", "A-2", "北京-朝阳-1", "Ünter-3", "A-4", "A-5", "A-6"]
        for n, address in enumerate(addresses):
            scorer.apply(placed(n * DAY, n, address))
        raw = scorer.customers["C-1"]
        c = customer(raw)
        assert (c.orders, c.amount_n, c.n_addresses) == (7, 7, 4)
        assert c.amount_sum == sum(30.0 + n for n in range(7))
        assert c.seen_ms == 6 * DAY
        assert customer_addresses(raw) == ("北京-朝阳-1", "A-2", "Ünter-3", "A-4")

    def test_snapshot_form_round_trips_to_the_same_bytes(self) -> None:
        """The list form (unchanged since customers were objects) restores the same bytes."""
        scorer = RiskScorer()
        for n, address in enumerate(["A-1", "地址-2"]):
            scorer.apply(placed(n * DAY, n, address))
        raw = scorer.customers["C-1"]
        item = json.loads(json.dumps(customer_to_list(raw)))
        assert item[6] == ["A-1", "地址-2"]
        assert customer_from_list(item) == raw

    def test_a_one_order_customer_is_small(self) -> None:
        """One order at one address: under 100 bytes of record (the object with its
        boxed numbers and address tuple took about 230)."""
        scorer = RiskScorer()
        scorer.apply(placed(0, 1, "A-000000001"))
        assert sys.getsizeof(scorer.customers["C-1"]) < 100


class TestPackedAddress:
    def test_customers_at_an_address_up_to_eight_and_the_shared_factor(self) -> None:
        """An address keeps the first eight customers who used it (a repeat once); the
        ``address_shared`` factor is the log of that count, for the next order there."""
        scorer = RiskScorer()
        for n, cid in enumerate(["C-1", "客户-2", "C-1", *[f"C-{i}" for i in range(3, 12)]]):
            scorer.apply(
                RiskFact(
                    n, f"O-{n}:placed", "placed", f"O-{n}", cid, "S-1", None, None, None, "A-1"
                )
            )
        raw = scorer.addresses["A-1"]
        assert address_customers(raw) == 8
        assert address_to_list(raw) == [11, ["C-1", "客户-2", *[f"C-{i}" for i in range(3, 9)]]]
        record = scorer.apply(
            RiskFact(20, "O-x:placed", "placed", "O-x", "C-x", "S-1", None, None, None, "A-1")
        )
        assert record is not None
        shared = next(f for f in record.factors if f.name == "address_shared")
        assert shared.value == round(math.log(8), 4)

    def test_snapshot_form_round_trips_to_the_same_bytes(self) -> None:
        """The list form (unchanged since addresses were tuples) restores the same bytes."""
        scorer = RiskScorer()
        for n, cid in enumerate(["C-1", "地址客户-2"]):
            scorer.apply(
                RiskFact(
                    n, f"O-{n}:placed", "placed", f"O-{n}", cid, "S-1", None, None, None, "A-1"
                )
            )
        raw = scorer.addresses["A-1"]
        assert address_from_list(json.loads(json.dumps(address_to_list(raw)))) == raw
