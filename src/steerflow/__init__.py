"""steerflow: a distributed service function chaining controller for Open vSwitch."""

__version__ = "0.1.0"
