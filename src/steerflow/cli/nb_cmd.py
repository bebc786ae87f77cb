"""`steerflow nb version|migrate`: the NB store's schema version, and bringing an older NB up to date."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import click

from steerflow.cli.agent_cmd import NB_HELP
from steerflow.cli.output import one_line, print_error

if TYPE_CHECKING:
    from steerflow.nbdb.api import NorthboundStore
    from steerflow.nbdb.migrate import StepResult

EXIT_CANNOT_RUN = 2
EXIT_NEWER_SCHEMA = 3  # the store is newer than this steerflow: restarting will not help (systemd units)

nb_commands = click.Group("nb", help="The NB store's schema version: show it, migrate an older one.")


@contextlib.contextmanager
def opened_store(nb: str | None) -> Iterator[NorthboundStore]:
    """The store, or one line and exit code 2 (bad URL, unreachable server, any store error)."""
    from steerflow.nbdb.api import StoreError
    from steerflow.nbdb.url import open_store

    try:
        store = open_store(nb)
    except ValueError as exc:
        print_error(one_line(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None
    try:
        yield store
    except StoreError as exc:
        print_error(one_line(exc))
        raise click.exceptions.Exit(EXIT_CANNOT_RUN) from None
    finally:
        store.close()


def refuse_newer_schema(store: NorthboundStore, who: str) -> int:
    """The store's schema version; one line and exit code 3 when it is newer than this steerflow."""
    from steerflow.nbdb.migrate import NewerSchema, refuse_newer

    try:
        return refuse_newer(store, who)
    except NewerSchema as exc:
        print_error(str(exc))
        raise click.exceptions.Exit(EXIT_NEWER_SCHEMA) from None


@nb_commands.command("version")
@click.option("--nb", help=NB_HELP)
def version(nb: str | None) -> None:
    """Print the store's schema version and the one this steerflow writes (exit code 3: newer)."""
    from steerflow.nbdb.migrate import CURRENT_VERSION, pending

    with opened_store(nb) as store:
        found = refuse_newer_schema(store, "steerflow")
    steps = len(pending(found))
    state = f"{steps} step(s) pending: run steerflow nb migrate" if steps else "up to date"
    click.echo(f"NB schema version {found} (this steerflow: {CURRENT_VERSION}): {state}")


@nb_commands.command("migrate")
@click.option("--nb", help=NB_HELP)
@click.option("--dry-run", is_flag=True, help="Show what each step would rewrite; write nothing.")
def migrate(nb: str | None, dry_run: bool) -> None:
    """Bring the store to this steerflow's schema version, one step (one transaction) at a time.
    Idempotent: a step already applied is skipped, so running it again (or from two hosts) is safe.
    Exit code 3 when the store is newer than this steerflow."""
    from steerflow.nbdb import migrate as migration

    with opened_store(nb) as store:
        found = refuse_newer_schema(store, "steerflow")
        steps = migration.pending(found)
        if not steps:
            click.echo(f"NB schema version {found}: up to date, nothing to do")
            return
        target = migration.CURRENT_VERSION
        click.echo(f"NB schema version {found} -> {target}: {len(steps)} step(s){' (dry run)' * dry_run}")
        migration.migrate(store, dry_run=dry_run, progress=_shower(dry_run, target))
    click.echo("dry run: nothing written" if dry_run else f"NB schema version {target}: up to date")


def _shower(dry_run: bool, target: int) -> Callable[[StepResult], None]:
    def show(result: StepResult) -> None:
        verb = "would rewrite" if dry_run else "rewrote"
        where = f", revision {result.revision}" if result.revision is not None else ""
        click.echo(
            f"  step {result.version}/{target}: {result.title}: {verb} {result.documents} document(s){where}"
        )

    return show
