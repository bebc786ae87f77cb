"""Fixture modules shared by every test folder."""

pytest_plugins = ["tests.builders.lab_fixtures", "tests.builders.fabric"]
