"""The `steerflow-neutron` command: `resync` reconciles steerflow's NB with Neutron."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import httpx

from steerflow.nbdb import open_store
from steerflow.nbdb.api import StoreError
from steerflow_neutron.mirror import Mirror
from steerflow_neutron.resync import NeutronView, counts, read_neutron, resync


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steerflow-neutron", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    sync = verbs.add_parser(
        "resync", help="make steerflow's NB equal to Neutron's database (missing, stale, extra objects)"
    )
    sync.add_argument(
        "--neutron",
        default=os.environ.get("OS_NEUTRON_URL", "http://127.0.0.1:9696"),
        help="Neutron's endpoint, without /v2.0 ($OS_NEUTRON_URL)",
    )
    sync.add_argument(
        "--token",
        default=os.environ.get("OS_TOKEN"),
        help="an admin Keystone token ($OS_TOKEN); none with auth_strategy = noauth",
    )
    sync.add_argument(
        "--nb", default=None, help="the NB store URL (default: $STEERFLOW_NB, else steerflow's default)"
    )
    sync.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the NB ends equal to Neutron, 1 when some change failed, 2 when a side is unreachable."""
    args = _parser().parse_args(argv)
    view: NeutronView = {}

    def read() -> NeutronView:
        view.update(read_neutron(args.neutron, args.token))
        return view

    try:
        store = open_store(args.nb)
        report = resync(Mirror(store), read, dry_run=args.dry_run)
    except httpx.HTTPError as exc:
        print(f"steerflow-neutron: cannot read Neutron at {args.neutron}: {exc}", file=sys.stderr)
        return 2
    except (StoreError, ValueError) as exc:
        print(f"steerflow-neutron: cannot use the NB store: {exc}", file=sys.stderr)
        return 2
    print(f"Neutron has {counts(view)}" + (" (dry run: nothing changed)" if args.dry_run else ""))
    for line in report.lines():
        print(line)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
