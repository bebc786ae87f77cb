"""Builders of NB documents and scenarios shared by tests."""
