"""Command-line adapters: the `aftersales` commands, demo, report, explain."""
