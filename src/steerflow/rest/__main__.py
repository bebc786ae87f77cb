"""`python -m steerflow.rest`: run the API server."""

from steerflow.rest.server import main

main()
