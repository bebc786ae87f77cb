"""Fixture modules shared by every test folder."""

pytest_plugins = ["tests.lab_fixtures", "tests.fabric"]
