"""The `handoff` command."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from plg_handoff.config import ConfigError, load_config, load_secrets
from plg_handoff.connectors.errors import SetupRequired
from plg_handoff.logs import configure_logging, get_logger

if TYPE_CHECKING:
    from temporalio.client import Client

app = typer.Typer(
    help="PLG handoff daemon: product usage in, CRM opportunities out, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
log = get_logger("plg_handoff.cli")
T = TypeVar("T")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="TOML configuration file.", envvar="HANDOFF_CONFIG")
]


@app.command()
def dev(
    data_dir: Annotated[
        Path, typer.Option(help="Where Temporal, the sandbox and usage live.")
    ] = Path(".handoff"),
    port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = 8233,
    sandbox_port: Annotated[int, typer.Option(help="Sandbox HubSpot port.")] = 8780,
    sync_interval: Annotated[str, typer.Option(help="Sync interval on first run.")] = "15s",
    feed_interval: Annotated[float, typer.Option(help="Seconds per simulated day.")] = 20,
) -> None:
    """Everything on this machine: Temporal dev server, worker, sandbox CRM, simulated usage."""
    from plg_handoff.dev import DevOptions, run_dev

    options = DevOptions(data_dir, port, ui_port, sandbox_port, sync_interval, feed_interval)
    asyncio.run(run_dev(options, console))


@app.command()
def worker(config: ConfigOption = Path("handoff.toml")) -> None:
    """The worker alone, against the configured Temporal (what production runs)."""
    asyncio.run(_worker(config))


async def _worker(path: Path) -> None:
    from plg_handoff.schedules import ensure_schedules
    from plg_handoff.worker import build_crm, build_worker, connect

    config = load_config(path)
    secrets = load_secrets(config)
    configure_logging(config.log.level, config.log.format, secrets.values())
    crm = build_crm(config, secrets)
    missing = await asyncio.to_thread(crm.missing_properties)
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            f"crm: the CRM lacks the custom properties the daemon writes: {names}; "
            "create them with `handoff crm-setup --config FILE`"
        )
    client = await connect(config, secrets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, config, secrets, crm):
        schedules = await ensure_schedules(client, config)
        log.info(
            "worker.started",
            address=config.temporal.address,
            namespace=config.temporal.namespace,
            task_queue=config.temporal.task_queue,
            schedules=schedules,
        )
        await stop.wait()
    log.info("worker.stopped")


@app.command("crm-setup")
def crm_setup(config: ConfigOption = Path("handoff.toml")) -> None:
    """Creates the custom CRM properties the daemon writes (idempotent)."""
    from plg_handoff.worker import build_crm

    loaded = load_config(config)
    crm = build_crm(loaded, load_secrets(loaded))
    try:
        created = crm.ensure_properties()
    except SetupRequired as exc:  # Salesforce: fields a person creates in Setup
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"created: {', '.join(created) or 'nothing, all present'}")


@app.command("check-config")
def check_config(config: ConfigOption = Path("handoff.toml")) -> None:
    """Validates the configuration file and the secrets in the environment."""
    loaded = load_config(config)
    load_secrets(loaded)
    console.print(
        f"[green]{config}: valid[/] ({len(loaded.sources)} source(s), crm {loaded.crm.kind})"
    )


account = typer.Typer(help="Steer one account: snooze, disqualify, requalify.")
app.add_typer(account, name="account")
AccountArgument = Annotated[str, typer.Argument(help="The account id (as in account/<id>).")]
ReasonOption = Annotated[str, typer.Option(help="Why; shown to whoever looks next.")]


@app.command()
def explain(
    account_id: AccountArgument,
    config: ConfigOption = Path("handoff.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="The raw query result.")] = False,
) -> None:
    """What the account's workflow knows: what fired, what was filtered and why, the decision."""
    from plg_handoff.explain import account_summary, render

    summary = asyncio.run(_with_client(config, lambda c: account_summary(c, account_id)))
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(summary), indent=2, default=str))
    else:
        typer.echo(render(summary))


@account.command()
def snooze(
    account_id: AccountArgument,
    days: Annotated[int, typer.Option(help="How long no handoff opens.")],
    reason: ReasonOption,
    config: ConfigOption = Path("handoff.toml"),
) -> None:
    """No handoff for the account for a while; it is still evaluated."""
    from plg_handoff.activities.contracts import SNOOZE_UPDATE, SnoozeRequest

    _steer(config, account_id, SNOOZE_UPDATE, SnoozeRequest(days, reason, _operator()))


@account.command()
def disqualify(
    account_id: AccountArgument, reason: ReasonOption, config: ConfigOption = Path("handoff.toml")
) -> None:
    """No handoff for the account until it is requalified."""
    from plg_handoff.activities.contracts import DISQUALIFY_UPDATE, DisqualifyRequest

    _steer(config, account_id, DISQUALIFY_UPDATE, DisqualifyRequest(reason, _operator()))


@account.command()
def requalify(
    account_id: AccountArgument, reason: ReasonOption, config: ConfigOption = Path("handoff.toml")
) -> None:
    """Lifts a snooze or disqualification; the account is evaluated again at once."""
    from plg_handoff.activities.contracts import REQUALIFY_UPDATE, RequalifyRequest

    _steer(config, account_id, REQUALIFY_UPDATE, RequalifyRequest(reason, _operator()))


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """The JSON Schema of the configuration file, for editors (e.g. Taplo, Even Better TOML)."""
    from plg_handoff.config import config_json_schema

    text = config_json_schema()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _steer(config: Path, account_id: str, update: str, request: object) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from plg_handoff.activities.contracts import account_workflow_id
    from plg_handoff.explain import render
    from plg_handoff.workflows.account import AccountSummary

    async def send(client: Client) -> AccountSummary:
        handle = client.get_workflow_handle(account_workflow_id(account_id))
        result: AccountSummary = await handle.execute_update(
            update, request, result_type=AccountSummary
        )
        return result

    try:
        summary = asyncio.run(_with_client(config, send))
    except WorkflowUpdateFailedError as exc:
        console.print(f"[red]refused[/]: {exc.cause}")
        raise SystemExit(1) from None
    typer.echo(render(summary))


async def _with_client(config: Path, use: Callable[[Client], Awaitable[T]]) -> T:
    """Runs `use` with a client of the configured Temporal; needs only Temporal's secrets."""
    from plg_handoff.config import Secrets
    from plg_handoff.worker import connect

    loaded = load_config(config)
    client = await connect(loaded, Secrets())
    return await use(client)


def _operator() -> str:
    return os.environ.get("USER") or "operator"


def main() -> None:
    """The console script: a configuration error from any command exits 2 with its message."""
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]configuration error[/]\n{exc}")
        raise SystemExit(2) from None
