"""The after-sales stream processor: intake, windows, closer, worker and CLI."""
