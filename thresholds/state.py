"""Per-series state of a windowed detector, serialisable to bytes and JSON.

The state is plain data (the algorithm lives in :mod:`thresholds.engine`), so a
keyed table can store it and ``replay`` can rebuild it. Both encodings round-trip
exactly: floats travel as IEEE-754 doubles in bytes and as ``repr`` (shortest
round-trip form) in JSON.

Size bound: the byte encoding is fixed-size, :data:`STATE_BYTES` = 362 bytes
including the 31-slot seasonal profile, far below the 4 KiB budget per series. States
written before the CUSUM learned its windows' autocorrelation (346 bytes, ``ATS3``) still
decode, as a series that has learned none yet.

Examples
--------
>>> s = SeriesState.empty("0123abcd")
>>> SeriesState.from_bytes(s.to_bytes()) == s
True
>>> SeriesState.from_json(s.to_json()) == s
True
>>> len(s.to_bytes())
362
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field

from thresholds.errors import StateMismatchError
from thresholds.seasonal import HOURS, WEEKDAYS

__all__ = ["STATE_BYTES", "SeriesState"]

_OLD_MAGIC = b"ATS3"
_OLD_STRUCT = struct.Struct(f"<4s8sqqdddd{HOURS}d{WEEKDAYS}dIBiibddd")
_MAGIC = b"ATS4"
_STRUCT = struct.Struct(_OLD_STRUCT.format + "dd")  # + drift, drift_var
STATE_BYTES = _STRUCT.size
NO_TIMESTAMP = -(2**63)


@dataclass(slots=True)
class SeriesState:
    """Everything one series remembers between windows.

    Parameters
    ----------
    state_key
        :attr:`thresholds.config.DetectorConfig.state_key` of the owner.
    n
        Windows with data seen so far (warm-up counter).
    last_ts
        Timestamp (epoch ms) of the last window, ``None`` before the first.
    spacing
        Typical spacing of windows in ms (0 while unknown).
    level, var, noise
        Level, winsorised residual variance and mean sampling variance, in the
        kind's stabilised scale.
    hour, weekday
        Additive seasonal effects per hour of day (24) and weekday (7).
    history
        Bit ``i`` set when the window ``i`` steps ago violated (persistence).
    alerting
        Whether an episode is active.
    calm
        Consecutive calm windows (hysteresis).
    run
        Signed run of consecutive violations (+ up, - down).
    episode_direction
        +1 / -1 for the active episode's side, 0 when none.
    cusum_up, cusum_down
        One-sided CUSUM statistics of the standardised residuals (sequential evidence).
        A count that does not watch its rise keeps ``cusum_up`` as the evidence of a
        sale under way (see :func:`thresholds.engine.step`), never fired on.
    hour_pending
        What the current hour's out-of-band windows will teach its seasonal slot once
        the series leaves the hour.
    drift, drift_var
        The exponentially weighted sum of recent standardised residuals and its learned
        mean square (0: nothing learned yet), from which the CUSUM reads how much more a
        run of windows strays than independent windows would (see
        :func:`thresholds.engine.step`).
    """

    state_key: str
    n: int = 0
    last_ts: int | None = None
    spacing: float = 0.0
    level: float = 0.0
    var: float = 0.0
    noise: float = 0.0
    hour: tuple[float, ...] = field(default=(0.0,) * HOURS)
    weekday: tuple[float, ...] = field(default=(0.0,) * WEEKDAYS)
    history: int = 0
    alerting: bool = False
    calm: int = 0
    run: int = 0
    episode_direction: int = 0
    cusum_up: float = 0.0
    cusum_down: float = 0.0
    hour_pending: float = 0.0
    drift: float = 0.0
    drift_var: float = 0.0

    @classmethod
    def empty(cls, state_key: str) -> SeriesState:
        """Return the state of a series that has seen nothing."""
        return cls(state_key=state_key)

    def to_bytes(self) -> bytes:
        """Encode in the fixed little-endian layout (``STATE_BYTES`` long)."""
        return _STRUCT.pack(
            _MAGIC,
            self.state_key.encode("ascii"),
            self.n,
            NO_TIMESTAMP if self.last_ts is None else self.last_ts,
            self.spacing,
            self.level,
            self.var,
            self.noise,
            *self.hour,
            *self.weekday,
            self.history,
            int(self.alerting),
            self.calm,
            self.run,
            self.episode_direction,
            self.cusum_up,
            self.cusum_down,
            self.hour_pending,
            self.drift,
            self.drift_var,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SeriesState:
        """Decode :meth:`to_bytes` output."""
        old = len(data) == _OLD_STRUCT.size and data[:4] == _OLD_MAGIC
        if not old and (len(data) != STATE_BYTES or data[:4] != _MAGIC):
            msg = f"not a series state: expected {STATE_BYTES} bytes starting {_MAGIC!r}"
            raise StateMismatchError(msg)
        f = (_OLD_STRUCT if old else _STRUCT).unpack(data)
        h0 = 8
        w0 = h0 + HOURS
        rest = f[w0 + WEEKDAYS :]
        return cls(
            state_key=f[1].decode("ascii"),
            n=f[2],
            last_ts=None if f[3] == NO_TIMESTAMP else f[3],
            spacing=f[4],
            level=f[5],
            var=f[6],
            noise=f[7],
            hour=tuple(f[h0:w0]),
            weekday=tuple(f[w0 : w0 + WEEKDAYS]),
            history=rest[0],
            alerting=bool(rest[1]),
            calm=rest[2],
            run=rest[3],
            episode_direction=rest[4],
            cusum_up=rest[5],
            cusum_down=rest[6],
            hour_pending=rest[7],
            drift=0.0 if old else rest[8],
            drift_var=0.0 if old else rest[9],
        )

    def to_json(self) -> str:
        """Encode as a JSON object (floats in shortest round-trip form)."""
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> SeriesState:
        """Decode :meth:`to_json` output."""
        d = json.loads(text)
        d["hour"] = tuple(float(x) for x in d["hour"])
        d["weekday"] = tuple(float(x) for x in d["weekday"])
        for name in ("spacing", "level", "var", "noise", "cusum_up", "cusum_down", "hour_pending"):
            d[name] = float(d[name])
        for name in ("drift", "drift_var"):  # absent from states written before them
            d[name] = float(d.get(name, 0.0))
        return cls(**d)
