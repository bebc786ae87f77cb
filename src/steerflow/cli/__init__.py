"""The `steerflow` command line (click): API server, agent, resource commands, lab and demo."""
