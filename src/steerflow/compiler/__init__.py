"""The pure compiler: (NB snapshot, chassis view) -> the flows and groups that chassis needs."""
