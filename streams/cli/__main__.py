"""`python -m streams.cli`: the `aftersales` command."""

from streams.cli.main import main

main()
