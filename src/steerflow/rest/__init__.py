"""The Neutron-compatible REST API: FastAPI app, authentication and the server process."""
