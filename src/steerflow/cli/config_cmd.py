"""`steerflow config check [PATH]`: validate a configuration file and print the effective settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from steerflow.cli import config
from steerflow.cli.output import print_error, print_json

config_commands = click.Group(
    "config", help="The configuration file: check one and show the effective settings (secrets masked)."
)


def _option(ctx: click.Context, target: str, param_name: str) -> click.Option:
    """The click option a setting feeds (`target` is a command path such as `nb migrate`)."""
    command: click.Command | None = ctx.find_root().command
    for word in target.split():
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, word)
    assert command is not None
    option = next(p for p in command.params if p.name == param_name)
    assert isinstance(option, click.Option)
    return option


def _from_environment(ctx: click.Context, setting: config.Setting, raw: str) -> Any:
    """An environment variable's value as its option would take it (UsageError naming the variable)."""
    target, param_name = setting.targets[0]
    option = _option(ctx, target, param_name)
    try:
        return option.type.convert(raw, option, ctx)
    except click.BadParameter as exc:
        raise click.UsageError(f"${setting.envvar}: {exc.message}") from None


def _from_file(ctx: click.Context, loaded: config.Config, setting: config.Setting) -> Any:
    for target, param_name in setting.targets:
        config.check_option(ctx, loaded, setting, _option(ctx, target, param_name))
    return loaded.values[setting.name]


def _default(ctx: click.Context, setting: config.Setting) -> Any:
    """What a setting is when nothing sets it: its option's default, or what the daemon then uses."""
    if setting.name == "store.url":
        from steerflow.nbdb.url import default_nb_url

        return default_nb_url()
    if setting.name == "liveness.down_after":
        from steerflow.nbdb.status import DEFAULT_DOWN_AFTER

        return DEFAULT_DOWN_AFTER
    if setting.name == "agent.datapath":
        return "system if the host supports it, else netdev"
    target, param_name = setting.targets[0]
    value = _option(ctx, target, param_name).default
    return value if isinstance(value, str | int | float) else None  # click's UNSET: none


def effective_settings(ctx: click.Context, loaded: config.Config) -> list[dict[str, Any]]:
    """Every setting: its value (masked) and source (environment, file or default), and what it feeds."""
    rows = []
    for setting in config.SETTINGS:
        raw = os.environ.get(setting.envvar, "").strip()
        if raw:
            value, source = _from_environment(ctx, setting, raw), f"${setting.envvar}"
        elif setting.name in loaded.values:
            value, source = _from_file(ctx, loaded, setting), "file"
        else:
            value, source = _default(ctx, setting), "default"
        rows.append(
            {
                "setting": setting.name,
                "value": config.mask(setting.name, value),
                "source": source,
                "options": ", ".join(f"{t} --{p.replace('_', '-')}" for t, p in setting.targets),
                "help": setting.help,
            }
        )
    return rows


@config_commands.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the effective settings as JSON.")
@click.pass_context
def check(ctx: click.Context, path: Path | None, as_json: bool) -> None:
    """Validate PATH (default: --config, $STEERFLOW_CONFIG or /etc/steerflow/steerflow.toml) and print
    the effective settings: flags aside, the environment wins over the file, the file over defaults.
    Exit code 1 when the file is not valid (the message names the line and key)."""
    given = path or ctx.find_root().meta.get(config.GIVEN_META)
    try:
        loaded = config.load(Path(given) if given else None)
        rows = effective_settings(ctx, loaded)
    except (config.ConfigError, click.UsageError) as exc:
        print_error(exc.format_message() if isinstance(exc, click.UsageError) else str(exc))
        raise click.exceptions.Exit(1) from None
    if as_json:
        print_json({"file": str(loaded.path) if loaded.path else None, "settings": rows})
        return
    click.echo(f"{loaded.path}: valid" if loaded.path else "no configuration file: defaults and environment")
    width = max(len(r["setting"]) for r in rows)
    for row in rows:
        shown = "(none)" if row["value"] is None else row["value"]
        click.echo(f"  {row['setting']:<{width}}  {shown}  [{row['source']}]")
