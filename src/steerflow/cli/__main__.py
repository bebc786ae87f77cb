"""`python -m steerflow.cli`: the steerflow command."""

from steerflow.cli.main import main

main()
