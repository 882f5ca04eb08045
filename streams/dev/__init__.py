"""Development tools: the simulator and the embedded broker (CLI demo/simulate and tests only)."""
