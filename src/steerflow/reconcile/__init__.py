"""Reconciliation: turn the difference between desired and installed switch state into flow-mods."""
