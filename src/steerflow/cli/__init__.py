"""The `steerflow` command line: API server, resource commands (typer + rich) and the demo."""
