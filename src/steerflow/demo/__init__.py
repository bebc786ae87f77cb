"""The demo world, reusable by the `steerflow demo` command, tests and benchmarks: an API on a fresh
embedded store, lab chassis each running a real agent, VMs and service functions plugged for NB ports,
and the echo-doctoring scenario on top."""

from steerflow.demo.echo_service import ECHO_PORT, EchoServer, ask
from steerflow.demo.plug import ipv4_of, ipv6_of, plug_function, plug_vm
from steerflow.demo.procs import AgentProcess, ApiProcess, free_port, start_agent
from steerflow.demo.scenario import DemoClient, DemoError, Result, Scenario, Variant, doctored, variant
from steerflow.demo.world import DEFAULT_PREFIX, DemoPaths, DemoWorld, default_run_dir, down

__all__ = [
    "DEFAULT_PREFIX",
    "ECHO_PORT",
    "AgentProcess",
    "ApiProcess",
    "DemoClient",
    "DemoError",
    "DemoPaths",
    "DemoWorld",
    "EchoServer",
    "Result",
    "Scenario",
    "Variant",
    "ask",
    "default_run_dir",
    "doctored",
    "down",
    "free_port",
    "ipv4_of",
    "ipv6_of",
    "plug_function",
    "plug_vm",
    "start_agent",
    "variant",
]
