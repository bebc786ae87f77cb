"""The configuration file (/etc/steerflow/steerflow.toml or --config): its settings, the daemons' options
they feed, validation with line numbers, and the effective settings with secrets masked.

Precedence is click's: a flag, else the setting's environment variable, else the file (a `default_map`),
else the option's default. The file is read only by the commands that take settings from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click
from click.core import ParameterSource

DEFAULT_PATH: Final = Path("/etc/steerflow/steerflow.toml")
CONFIG_ENV: Final = "STEERFLOW_CONFIG"


@dataclass(frozen=True)
class Setting:
    """One key of the file: `[section] key`, the options it feeds (command path, parameter name) and
    the environment variable that overrides it."""

    section: str
    key: str
    kind: type  # str, int or float (an integer is accepted for a float)
    targets: tuple[tuple[str, str], ...]  # ("agent", "heartbeat_interval"), ("nb migrate", "nb")
    envvar: str
    help: str

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


def _s(section: str, key: str, kind: type, help: str, *targets: str, envvar: str = "") -> Setting:
    """A setting whose targets are `COMMAND:PARAM` (PARAM defaults to the key)."""
    parsed = tuple((t.partition(":")[0], t.partition(":")[2] or key) for t in targets)
    env = envvar or f"STEERFLOW_{section}_{key}".upper()
    return Setting(section, key, kind, parsed, env, help)


SETTINGS: Final = (
    _s("store", "url", str, "NB store URL (file:///PATH.db, redis://..., etcd://...)",
       "api:nb", "agent:nb", "wait:nb", "nb migrate:nb", "nb version:nb", "trace:nb", "detrace:nb",
       envvar="STEERFLOW_NB"),
    _s("api", "host", str, "address the API listens on", "api"),
    # not the NB schema: a listening port
    _s("api", "port", int, "TCP port the API listens on", "api"),
    _s("api", "token_file", str, "token mode: the JSON file of tokens (its contents are never shown)", "api"),
    # not the NB schema: the agent's --chassis
    _s("agent", "chassis", str, "this hypervisor's chassis name", "agent"),
    _s("agent", "encap_ip", str, "underlay IP other chassis reach this one at", "agent"),
    _s("agent", "ovsdb", str, "the local ovsdb-server, unix:PATH", "agent"),
    _s("agent", "bridge", str, "integration bridge", "agent"),
    _s("agent", "datapath", str, "bridge datapath_type (system, netdev); default: what the host supports",
       "agent"),
    _s("agent", "openflow", str, "bridge management socket unix:PATH", "agent"),
    _s("agent", "metrics", str, "HOST:PORT of Prometheus /metrics", "agent"),
    _s("agent", "stats_interval", float, "seconds between counter reads", "agent"),
    _s("liveness", "heartbeat", float, "seconds between an agent's heartbeats", "agent:heartbeat_interval"),
    _s("liveness", "down_after", float, "seconds of silence after which a chassis is down",
       "api:chassis_down_after", "wait:down_after", envvar="STEERFLOW_CHASSIS_DOWN_AFTER"),
    _s("rollout", "ready_timeout", float, "seconds a changed chain waits for the chassis it newly sends to",
       "agent"),
    _s("rollout", "retire_grace", float, "seconds what a changed chain no longer uses stays installed",
       "agent"),
    _s("log", "format", str, "text or json", "api:log_format", "agent:log_format"),
    _s("log", "level", str, "LEVEL[,MODULE=LEVEL...], e.g. info,steerflow.agent=debug",
       "api:log_level", "agent:log_level"),
)  # fmt: skip
BY_NAME: Final = {s.name: s for s in SETTINGS}
SECTIONS: Final = tuple(dict.fromkeys(s.section for s in SETTINGS))
CONFIGURED: Final = frozenset(t[0].split()[0] for s in SETTINGS for t in s.targets)  # top-level words


class ConfigError(ValueError):
    """The file cannot be used; the message names the file, the line when known and the key."""


@dataclass(frozen=True)
class Config:
    """A validated file: its path and {setting name: value}."""

    path: Path | None
    values: Mapping[str, Any]
    text: str = ""  # the file's text, for the line of a key in messages

    def where(self, setting: Setting) -> str:
        """`PATH:LINE` of a setting in the file (`PATH` when the line is not found)."""
        return _where(self.path or Path("-"), self.text, setting.section, setting.key)

    def default_map(self) -> dict[str, Any]:
        """click's `default_map` for the root group: {command: {subcommand: {param: value}}}."""
        tree: dict[str, Any] = {}
        for name, value in self.values.items():
            for command, param in BY_NAME[name].targets:
                node = tree
                for word in command.split():
                    node = node.setdefault(word, {})
                node[param] = value
        return tree


def line_of(text: str, section: str, key: str | None = None) -> int | None:
    """The line of `[section]` (or of `key` inside it), for messages; None when not found."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1).strip('"')
            if key is None and current == section:
                return number
        elif key is not None and current == section and re.match(rf'\s*"?{re.escape(key)}"?\s*=', line):
            return number
    return None


def _where(path: Path, text: str, section: str, key: str | None = None) -> str:
    line = line_of(text, section, key)
    return f"{path}:{line}" if line is not None else str(path)


def _check_value(setting: Setting, value: Any) -> Any:
    """The value as its option takes it, or ValueError saying what type it needs."""
    if setting.kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, setting.kind) and not isinstance(value, bool):
        return value
    wanted = {str: "a string", int: "an integer", float: "a number"}[setting.kind]
    raise ValueError(f"must be {wanted}, not {value!r}")


def parse(text: str, path: Path) -> Config:
    """Validate a file's text: TOML syntax, known sections and keys, value types (ConfigError)."""
    import tomllib  # only the commands that read the file pay for it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{_where(path, text, section)}: unknown section [{section}] (known: {', '.join(SECTIONS)})"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a [section] of keys")
        for key, value in table.items():
            setting = BY_NAME.get(f"{section}.{key}")
            where = _where(path, text, section, key)
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise ConfigError(f"{where}: unknown key {key!r} in [{section}] (known: {known})")
            try:
                values[setting.name] = _check_value(setting, value)
            except ValueError as exc:
                raise ConfigError(f"{where}: [{section}] {key} {exc}") from None
    return Config(path, values, text)


def load(path: Path | None) -> Config:
    """The file at `path` (ConfigError when absent or bad); None: the default path if it exists."""
    if path is None:
        if not DEFAULT_PATH.is_file():
            return Config(None, {})
        path = DEFAULT_PATH
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror or exc}") from None
    return parse(text, path)


def bind_environment(path: str, command: click.Command) -> None:
    """Give the options settings feed their environment variables (those without one yet), so the
    environment sits between the flags and the file; recursive through groups (`nb migrate`)."""
    for setting in SETTINGS:
        for target, param_name in setting.targets:
            if target != path:
                continue
            for param in command.params:
                if param.name == param_name and isinstance(param, click.Option) and param.envvar is None:
                    param.envvar = setting.envvar
                    param.show_envvar = True
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            bind_environment(f"{path} {name}", sub)


def mask(setting_or_param: str, value: Any) -> Any:
    """A value as logs and `config check` show it: passwords in URLs replaced by ***."""
    if isinstance(value, str) and setting_or_param in ("store.url", "nb"):
        from steerflow.nbdb.url import redacted

        return redacted(value)
    return value


SOURCES: Final = {
    ParameterSource.COMMANDLINE: "flag",
    ParameterSource.ENVIRONMENT: "environment",
    ParameterSource.DEFAULT_MAP: "file",
    ParameterSource.DEFAULT: "default",
}


def effective(ctx: click.Context) -> Iterator[tuple[str, Any, str]]:
    """(option, value masked, where it came from) for every option of the running command."""
    for name, value in sorted(ctx.params.items()):
        source = ctx.get_parameter_source(name)
        yield name, mask(name, value), SOURCES.get(source, "default") if source else "default"


def describe(ctx: click.Context) -> str:
    """The running command's effective configuration in one line (what a daemon logs at start)."""
    shown = " ".join(f"{name}={value!r}({source})" for name, value, source in effective(ctx))
    path = ctx.find_root().meta.get(CONFIG_META)
    return f"configuration from {path or 'no file'}: {shown}"


CONFIG_META: Final = "steerflow.config"  # ctx.meta key of the file the root group read (None: none)
GIVEN_META: Final = "steerflow.config.given"  # ctx.meta key of --config / $STEERFLOW_CONFIG


def read_for(ctx: click.Context, name: str, command: click.Command) -> None:
    """Read the file --config names (else the default path, if there) into the root context's
    default_map, before the subcommand's context is made; the values command `name` takes from it are
    held to its options' types and ranges (ConfigError naming the line)."""
    root = ctx.find_root()
    given = root.meta.get(GIVEN_META)
    config = load(Path(given) if given else None)
    for setting in SETTINGS:
        for target, param_name in setting.targets:
            option = next((p for p in command.params if p.name == param_name), None)
            if target == name and setting.name in config.values and isinstance(option, click.Option):
                check_option(ctx, config, setting, option)
    root.meta[CONFIG_META] = config.path
    root.default_map = config.default_map()


def check_option(ctx: click.Context, config: Config, setting: Setting, option: click.Option) -> None:
    """A file's value checked as the option it feeds checks it (ranges, choices): ConfigError."""
    value = config.values[setting.name]
    try:
        option.type.convert(value, option, ctx)
        if option.callback is not None:
            option.callback(ctx, option, value)
    except click.BadParameter as exc:
        where = config.where(setting)
        raise ConfigError(f"{where}: [{setting.section}] {setting.key}: {exc.message}") from None
