"""Per-order after-sales risk: facts, online model, scorer, sequencing shard, records.

Dependencies point one way: :mod:`~streams.risk.facts` (what the intake forwards) <-
:mod:`~streams.risk.model` (online logistic regression) <- :mod:`~streams.risk.scorer`
(per-customer, per-SKU, per-cell state and the factors) <- :mod:`~streams.risk.shard`
(event-time ordering behind the watermarks, what a closer partition and ``replay`` run).
No Kafka imports: the worker and ``replay`` both feed a shard and publish its records.
"""

from streams.risk.facts import RiskFact, fact_from_event, risk_partition
from streams.risk.record import RISK_SCHEMA, RiskRecord
from streams.risk.scorer import RiskScorer
from streams.risk.shard import RiskShard

__all__ = [
    "RISK_SCHEMA",
    "RiskFact",
    "RiskRecord",
    "RiskScorer",
    "RiskShard",
    "fact_from_event",
    "risk_partition",
]
