"""A described walk as a compact tree for people (rich: coloured on a terminal, plain in a pipe)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from steerflow.trace.describe import JsonDict

ROLE_STYLE = {
    "classifier": "bold cyan",
    "chain": "magenta",
    "hop": "magenta",
    "instance": "green",
    "graph": "yellow",
}


def tree(described: JsonDict, title: str) -> Tree:
    """The walk as a rich Tree: one node per switch pass, its NB objects, choices and outputs."""
    root = Tree(escape(title))
    _step(root, described["path"])
    if described["truncated"]:
        root.add("[bold red]truncated: too many switch passes (a loop?)[/]")
    root.add(f"[dim]{escape(described['assumption'])}[/]")
    return root


def render(described: JsonDict, title: str, *, colour: bool | None = None, width: int = 160) -> str:
    """The tree as text (`colour` None: only on a terminal)."""
    console = Console(width=width, force_terminal=colour, no_color=colour is False, record=True)
    with console.capture() as capture:
        console.print(tree(described, title))
    return capture.get()


def _step(parent: Tree, step: JsonDict) -> None:
    node = parent.add(f"[bold]chassis {escape(step['on'])}[/]{_arrival(step['came_from'])}")
    for entry in step["matched"]:
        node.add(_matched(entry))
    for choice in step["choices"]:
        fields = ", ".join(choice["fields"])
        node.add(
            f"[green]balanced[/]: {choice['chosen']} of {choice['of']} by hash {escape(choice['hash'])} "
            f"of {escape(fields)} [dim]({escape(choice['action'])})[/]"
        )
    for warning in step["warnings"]:
        node.add(f"[red]warning: {escape(warning)}[/]")
    if not step["outputs"]:
        node.add("[bold red]dropped[/]")
    for out in step["outputs"]:
        _output(node, out)


def _arrival(came_from: str) -> str:
    if not came_from:
        return ""
    if came_from == "tunnel":
        return " (from a tunnel)"
    return f" (back from function {escape(came_from)})"


def _matched(entry: JsonDict) -> str:
    obj = entry["object"]
    role = entry["role"]
    style = ROLE_STYLE.get(role, "white")
    tables = ", ".join(entry["tables"])
    return f"[{style}]{role}[/] {_name(obj)} [dim]({escape(tables)}; cookie {entry['cookie']})[/]"


def _output(node: Tree, out: JsonDict) -> None:
    header = _header(out["header"])
    if out["kind"] == "tunnel":
        text = f"[blue]tunnel[/] to chassis {escape(out['to'] or '?')} (VNI {out['vni']}){header}"
    elif out["kind"] == "function":
        side = " (by its egress port: reverse)" if out["entered_by"] == "egress" else ""
        text = f"[green]to function[/] {_name(out['function'])}{side}{header}"
    elif out["kind"] == "tap":
        text = f"[cyan]copy to tap[/] {_name(out['function'])}{header}"
    elif out["kind"] == "delivery":
        text = f"[bold green]delivered[/] to port {_name(out['to_port'])} (ofport {out['ofport']}){header}"
    else:
        text = f"[yellow]out of ofport {out['ofport']}[/] (no port of the model){header}"
    child = node.add(text)
    if "next" in out:
        _step(child, out["next"])


def _name(obj: Any) -> str:
    if obj is None:
        return "?"
    return escape(f"{obj['name']} ({obj['id']})" if obj["name"] else str(obj["id"]))


def _header(header: JsonDict | None) -> str:
    if header is None:
        return ""
    if "mpls" in header:
        return " with MPLS label " + "/".join(str(v) for v in header["mpls"])
    nsh = header["nsh"]
    meta = nsh.get("context") or nsh.get("tlvs") or []
    text = f" with NSH SPI {nsh['spi']} SI {nsh['si']} (MD{nsh['md_type']}"
    return text + (f" {escape(str(meta))})" if any(meta) else ")")
