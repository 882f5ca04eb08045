"""Topic names and creation with explicit configuration.

Topics are created with explicit ``retention.ms``/``retention.bytes`` because
some brokers (tansu) report only the settings given at creation. Replication
factor and ``min.insync.replicas`` come from the settings; by default the
broker's own defaults apply. Any creation error other than "already exists"
stops the start with a :class:`~streams.exceptions.TopicError`; a broker that cannot
be reached at all with a :class:`BrokerUnreachable`, which words its one line in the
configured locale.

Replication factor -1 ("the broker's default", KIP-464) is defined for
CreateTopics v4+, but aiokafka speaks v0..v3 and its ``NewTopic`` refuses -1, so
the -1 is set on the request after construction: Kafka 2.4+ brokers apply their
``default.replication.factor`` whatever the request version (tansu keeps one
replica). An older broker answers INVALID_REPLICATION_FACTOR or INVALID_REQUEST;
those topics are then retried once with ``min(3, brokers in the cluster)``
replicas, and a warning says to set ``AFTERSALES_TOPIC_REPLICATION_FACTOR``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from alerts.locales import Catalogue, catalogue
from streams.contract.events import TOPICS, TopicName
from streams.exceptions import TopicError
from streams.logs import get_logger
from streams.runtime.config import Settings
from streams.runtime.kafka_options import client_options

__all__ = [
    "BrokerUnreachable",
    "TopicNames",
    "ensure_feedback_topic",
    "ensure_state_topic",
    "ensure_topics",
]

log = get_logger(__name__)

_TOPIC_EXISTS: Final = 36
#: Answers of a pre-2.4 broker to replication factor -1.
_DEFAULT_REFUSED: Final = frozenset({38, 42})  # INVALID_REPLICATION_FACTOR, INVALID_REQUEST
_FALLBACK_REPLICAS: Final = 3
_WEEK_MS: Final = 7 * 24 * 3600 * 1000
#: An address as aiokafka's messages print it: ``('host', 9092, <AddressFamily.AF_INET: 2>)``.
_ADDRESS: Final = re.compile(r"\('([^']*)', (\d+), <AddressFamily\.\w+: \d+>\)")
#: Snapshot topics: each snapshot is found through the partition's last record, so old
#: ones only need to outlive a few checkpoint intervals (a day is generous).
_STATE: Final = {
    "cleanup.policy": "delete",
    "retention.ms": str(24 * 3600 * 1000),
    "max.message.bytes": str(4 * 1_048_576),
}
#: The feedback topic keeps the latest verdict per alert id: it is the durable state.
_FEEDBACK: Final = {"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1"}


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full names of every topic the service reads or writes."""

    inputs: dict[TopicName, str]
    alerts: str
    dead_letter: str
    partials: str
    checkpoints: str
    intake_state: str
    #: On-call verdicts (compacted, key: alert id), read by every worker.
    feedback: str = ""
    #: Per-order risk records (key: order id, contract 7.4).
    order_risk: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        """Names under the configured prefix; internal topics also carry the app id."""
        internal = f"{settings.topic_prefix}{settings.app_id}."
        return cls(
            inputs={name: settings.topic(name) for name in TOPICS},
            alerts=settings.topic("alerts"),
            dead_letter=settings.topic("dead-letter"),
            partials=f"{internal}partials",
            checkpoints=f"{internal}checkpoints",
            intake_state=f"{internal}intake-state",
            feedback=settings.topic("feedback"),
            order_risk=settings.topic("order-risk"),
        )

    def input_short_name(self, full_name: str) -> TopicName:
        """Short name (``orders``...) of a full input topic name."""
        for short, full in self.inputs.items():
            if full == full_name:
                return short
        raise KeyError(full_name)


async def ensure_topics(settings: Settings, names: TopicNames, *, inputs: bool = True) -> None:
    """Create missing topics; existing ones are left as they are.

    Raises :class:`TopicError` if the broker cannot be reached or refuses a topic.
    """
    retention = {"retention.ms": str(_WEEK_MS), "retention.bytes": "-1"}
    wanted = [
        (names.alerts, retention),
        (names.dead_letter, {**retention, "max.message.bytes": str(64 * 1_048_576)}),
        (names.partials, retention),
        (names.checkpoints, _STATE),
        (names.feedback, _FEEDBACK),
    ]
    if names.order_risk:
        wanted.append((names.order_risk, retention))
    if inputs:
        wanted += [(full, retention) for full in names.inputs.values()]
    await _create(
        settings,
        [new_topic(settings, name, settings.topic_partitions, configs) for name, configs in wanted],
    )


async def ensure_feedback_topic(settings: Settings, names: TopicNames) -> None:
    """Create the feedback topic if it is missing (``aftersales feedback``)."""
    await _create(
        settings, [new_topic(settings, names.feedback, settings.topic_partitions, _FEEDBACK)]
    )


async def ensure_state_topic(settings: Settings, name: str, partitions: int) -> None:
    """Create a snapshot topic with ``partitions`` partitions if it is missing."""
    await _create(settings, [new_topic(settings, name, partitions, _STATE)])


def new_topic(settings: Settings, name: str, partitions: int, configs: dict[str, str]) -> NewTopic:
    """A topic to create with the configured replication factor and ``min.insync.replicas``."""
    if settings.topic_min_insync_replicas:
        configs = {**configs, "min.insync.replicas": str(settings.topic_min_insync_replicas)}
    topic = NewTopic(
        name, partitions, max(settings.topic_replication_factor, 1), topic_configs=configs
    )
    # aiokafka's NewTopic refuses -1 without a replica assignment; the request accepts it.
    topic.replication_factor = settings.topic_replication_factor
    return topic


async def _create(settings: Settings, topics: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        try:
            await admin.start()
        except (KafkaError, OSError, KeyError, ValueError) as exc:
            # KeyError/ValueError: aiokafka's SCRAM client reading a server's error reply.
            raise _cannot_connect(settings, exc) from None
        failed = await _create_with(admin, topics)
        retry = [
            topic
            for topic in topics
            if topic.replication_factor == -1
            and failed.get(topic.name, (0, ""))[0] in _DEFAULT_REFUSED
        ]
        if retry:
            brokers = len(admin._client.cluster.brokers())  # noqa: SLF001
            replicas = min(_FALLBACK_REPLICAS, brokers or 1)
            log.warning(
                "topic_default_replication_refused",
                topics=[t.name for t in retry],
                replication_factor=replicas,
                hint="set AFTERSALES_TOPIC_REPLICATION_FACTOR",
            )
            for topic in retry:
                topic.replication_factor = replicas
                del failed[topic.name]
            failed.update(await _create_with(admin, retry))
    except KafkaError as exc:
        raise TopicError(
            f"cannot create topics on {settings.kafka_bootstrap_servers}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    finally:
        await admin.close()
    if failed:
        details = "; ".join(
            f"{name}: error {code} {message or ''}".rstrip()
            for name, (code, message) in sorted(failed.items())
        )
        raise TopicError(f"the broker refused to create {len(failed)} topic(s): {details}")


class BrokerUnreachable(TopicError):
    """The first connection to the broker failed: where (``bootstrap``, ``host:port``
    list), how (protocol and SASL user, no secret), the client's ``cause``, and whether
    the security settings are worth checking too. ``str()`` is the English line."""

    def __init__(self, bootstrap: str, how: str, cause: str, *, secured: bool) -> None:
        self.bootstrap = bootstrap
        self.how = how
        self.cause = cause
        self.secured = secured
        super().__init__(self.line(catalogue("en")))

    def line(self, texts: Catalogue) -> str:
        """The message in ``texts``' locale, naming the variables to check."""
        check = texts.text("broker.check_secured" if self.secured else "broker.check_plain")
        return texts.text(
            "broker.unreachable",
            bootstrap=self.bootstrap,
            how=self.how,
            cause=self.cause,
            check=check,
        )


def _cannot_connect(settings: Settings, exc: BaseException) -> BrokerUnreachable:
    """Why the first connection failed, with the security settings in use (no secrets)."""
    how = settings.kafka_security_protocol
    if settings.kafka_sasl_mechanism:
        how += f", {settings.kafka_sasl_mechanism} as {settings.kafka_sasl_username!r}"
    detail = (
        str(exc) if isinstance(exc, KafkaError | OSError) else f"authentication failed ({exc!r})"
    )
    if not detail.startswith(type(exc).__name__):  # aiokafka's str() often names it already
        detail = f"{type(exc).__name__}: {detail}"
    return BrokerUnreachable(
        settings.kafka_bootstrap_servers,
        how,
        _ADDRESS.sub(_host_port, detail),
        secured=settings.kafka_security_protocol != "PLAINTEXT",
    )


def _host_port(address: re.Match[str]) -> str:
    """``host:port`` (``[host]:port`` for an IPv6 host) of an address aiokafka printed."""
    host, port = address.group(1), address.group(2)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _create_with(
    admin: AIOKafkaAdminClient, topics: list[NewTopic]
) -> dict[str, tuple[int, str | None]]:
    """Send one CreateTopics request; the topics that failed, with code and message."""
    response = await admin.create_topics(topics)
    failed: dict[str, tuple[int, str | None]] = {}
    for error in response.topic_errors:
        topic, code, message = error[0], error[1], error[2] if len(error) > 2 else None
        if code == 0:
            log.info("topic_created", topic=topic)
        elif code != _TOPIC_EXISTS:
            failed[topic] = (code, message)  # the caller retries or raises
    return failed
