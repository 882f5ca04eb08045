"""The after-sales stream processor: intake, windows, closer, worker and CLI."""

from pathlib import Path

from thresholds._compiled import refuse_stale_build

refuse_stale_build(Path(__file__).parent)
