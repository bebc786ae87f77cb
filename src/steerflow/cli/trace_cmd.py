"""`steerflow trace` (a packet's path in the model's terms) and `steerflow detrace` (ofproto/trace, named)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from steerflow.cli.agent_cmd import EXIT_CANNOT_RUN, NB_HELP
from steerflow.cli.output import print_error, print_json

BRIDGE = "br-int"


def _docs(nb: str | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every NB document (kind -> id -> value), as one consistent snapshot."""
    from steerflow.cli.nb_cmd import opened_store
    from steerflow.trace.run import snapshot_docs

    with opened_store(nb) as store:
        return snapshot_docs(store)


@click.command("trace")
@click.option("--from", "source", required=True, help="The sending port (id or name).")
@click.option("--to", "to", required=True, help="The destination: an IP address, or a port (id or name).")
@click.option("--proto", type=click.Choice(["udp", "tcp", "sctp", "icmp"]), default="udp", show_default=True)
@click.option(
    "--dport", type=click.IntRange(0, 65535), default=7, show_default=True, help="Destination port."
)
@click.option("--sport", type=click.IntRange(0, 65535), default=5000, show_default=True, help="Source port.")
@click.option("--ipv6", is_flag=True, help="Send IPv6 (the ports' IPv6 addresses).")
@click.option("--nb", help=NB_HELP)
@click.option(
    "--chassis", help="Also ask this chassis' switch (ofproto/trace) and show drift from the model."
)
@click.option(
    "--ovs-rundir",
    type=click.Path(path_type=Path),
    help="Run dir holding <chassis>/ovs-vswitchd.ctl (a lab's). Default: /tmp/steerflow-lab-sf.",
)
@click.option("--unixctl", type=click.Path(path_type=Path), help="The chassis' ovs-vswitchd control socket.")
@click.option("--json", "as_json", is_flag=True, help="Print the path as JSON.")
def trace(
    source: str,
    to: str,
    proto: str,
    dport: int,
    sport: int,
    ipv6: bool,
    nb: str | None,
    chassis: str | None,
    ovs_rundir: Path | None,
    unixctl: Path | None,
    as_json: bool,
) -> None:
    """Follow one packet across every chassis in the model's terms: classifier, chain, hop, instance and
    hash, header, tunnel, delivery. Computed from the NB (the compiled state); with --chassis, also
    from that switch's installed flows."""
    from steerflow.trace.probe import ProbeError
    from steerflow.trace.render import render
    from steerflow.trace.run import trace_path

    docs = _docs(nb)
    try:
        described, walk = trace_path(docs, source, to, proto=proto, dport=dport, sport=sport, ipv6=ipv6)
    except ProbeError as exc:
        print_error(str(exc))
        raise click.exceptions.Exit(1) from None
    if chassis is not None:
        described["live"] = _live(walk, docs, chassis, unixctl, ovs_rundir)
    if as_json:
        print_json(described)
        return
    probe = described["probe"]
    sys.stdout.write(render(described, f"{probe['packet']} from {source} on {probe['on']}"))
    if "live" in described:
        _print_live(described["live"])


def _live(walk: Any, docs: Any, chassis: str, unixctl: Path | None, rundir: Path | None) -> dict[str, Any]:
    """ofproto/trace of the packet as it first enters `chassis` in the walk, annotated, and the drift."""
    from steerflow.pipeline.cookies import owners
    from steerflow.trace.detrace import annotate, cookie_text
    from steerflow.trace.live import LiveError, drift, instances, ofproto_trace, unixctl_for

    step = next((s for s in walk.steps() if s.chassis == chassis), None)
    if step is None:
        print_error(f"the packet never reaches chassis {chassis!r} in the model")
        raise click.exceptions.Exit(1)
    socket = unixctl or unixctl_for(chassis, rundir or Path("/tmp/steerflow-lab-sf"))
    try:
        text = ofproto_trace(socket, BRIDGE, step.packet)
    except LiveError as exc:
        print_error(str(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None
    found = drift(step.trace, text)
    chosen = instances(text)
    names = owners(docs, [*found.compiled, *found.installed, *chosen])
    return {
        "on": chassis,
        "ofproto_trace": annotate(text, docs),
        "drift": not found.same,
        "instances": [owner.id for c in chosen if (owner := names[c]) is not None],
        "only_compiled": [cookie_text(c, docs, names) + f" {c:#x}" for c in found.only_compiled()],
        "only_installed": [cookie_text(c, docs, names) + f" {c:#x}" for c in found.only_installed()],
    }


def _print_live(live: dict[str, Any]) -> None:
    click.echo(f"\nchassis {live['on']}'s switch (ofproto/trace):")
    click.echo(live["ofproto_trace"].rstrip())
    if live["instances"]:
        click.echo(f"\ninstances the switch chose: {', '.join(live['instances'])}")
    if not live["drift"]:
        click.echo("\nno drift: the installed flows ran the same steerflow flows as the compiled ones")
        return
    click.echo("\nDRIFT between the compiled state and the installed flows:")
    for text in live["only_compiled"]:
        click.echo(f"  compiled, not run by the switch: {text}")
    for text in live["only_installed"]:
        click.echo(f"  run by the switch, not compiled: {text}")


@click.command("detrace")
@click.option("--nb", help=NB_HELP)
def detrace(nb: str | None) -> None:
    """Read `ovs-appctl ofproto/trace` output on stdin; print it with each flow's NB object."""
    from steerflow.trace.detrace import annotate

    docs = _docs(nb)
    sys.stdout.write(annotate(sys.stdin.read(), docs))
