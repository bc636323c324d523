"""The `handoff` command."""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import json
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from plg_handoff.config import ConfigError, load_config, load_secrets
from plg_handoff.connectors.errors import SetupRequired
from plg_handoff.logs import configure_logging, get_logger
from plg_handoff.temporal_errors import TemporalUnreachableError, refusal

if TYPE_CHECKING:
    from temporalio.client import Client

    from plg_handoff.config import Secrets

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
    from plg_handoff.activities.crm_queue import crm_activities_per_second, crm_task_queue
    from plg_handoff.activities.workdirs import remove_orphans
    from plg_handoff.schedules import ensure_schedules
    from plg_handoff.startup import startup_call, startup_connect
    from plg_handoff.webhooks.receiver import build_receiver
    from plg_handoff.worker import build_crm, build_worker, connect

    config = load_config(path)
    secrets = load_secrets(config)
    configure_logging(config.log.level, config.log.format, secrets.values())
    remove_orphans(config.data_dir)
    crm = build_crm(config, secrets)
    missing = await startup_call(crm.missing_properties, "crm.properties")
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            f"crm: the CRM lacks the custom properties the daemon writes: {names}; "
            "create them with `handoff crm setup --config FILE`"
        )
    # Loaded now, and reloaded in the background from then on: no handoff waits for them.
    await startup_call(crm.list_owners, "crm.owners")
    client = await startup_connect(lambda: connect(config, secrets), config.temporal.address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    receiver = build_receiver(client, config.webhooks, secrets, config.temporal.task_queue)
    async with build_worker(client, config, secrets, crm):
        schedules = await ensure_schedules(client, config)
        if receiver is not None:
            log.info("webhooks.listening", url=await receiver.start())
        log.info(
            "worker.started",
            address=config.temporal.address,
            namespace=config.temporal.namespace,
            task_queue=config.temporal.task_queue,
            crm_task_queue=crm_task_queue(config.temporal.task_queue),
            crm_activities_per_second=crm_activities_per_second(config.crm),
            schedules=schedules,
        )
        try:
            await stop.wait()
        finally:
            if receiver is not None:
                await receiver.stop()
    log.info("worker.stopped")


@app.command("codec-server")
def codec_server(config: ConfigOption = Path("handoff.toml")) -> None:
    """Temporal's remote codec (POST /encode, /decode) for Temporal UI and the `temporal` CLI
    to read encrypted payloads: keys from HANDOFF_CODEC_KEYS, callers authenticated with
    HANDOFF_CODEC_SERVER_TOKEN, settings in [codec_server]."""
    asyncio.run(_codec_server(config))


async def _codec_server(path: Path) -> None:
    from plg_handoff.codec_server import build_codec_server

    loaded = load_config(path)
    secrets = _environment_secrets()
    configure_logging(loaded.log.level, loaded.log.format, secrets.values())
    settings = loaded.codec_server
    server = build_codec_server(settings, loaded.temporal.namespace, secrets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with server:
        log.info(
            "codec.server_started",
            url=server.url,
            namespace=loaded.temporal.namespace,
            ui_origins=list(settings.ui_origins),
            require_token=settings.require_token,
            key_ids=list(server.codec.keys.key_ids),
            active_key_id=server.codec.keys.active,
        )
        await stop.wait()
    log.info("codec.server_stopped")


crm_app = typer.Typer(help="The CRM side: credentials, custom fields and owners.")
app.add_typer(crm_app, name="crm")


@crm_app.command("setup")
def crm_setup(config: ConfigOption = Path("handoff.toml")) -> None:
    """Creates the custom HubSpot properties the daemon writes (idempotent); for Salesforce,
    prints the field definitions to create in Setup (exit code 1 while some are missing)."""
    from plg_handoff.worker import build_crm

    loaded = load_config(config)
    crm = build_crm(loaded, load_secrets(loaded))
    try:
        created = crm.ensure_properties()
    except SetupRequired as exc:  # Salesforce: fields a person creates in Setup
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"created: {', '.join(created) or 'nothing, all present'}")


app.command("crm-setup", hidden=True, help="Alias of `handoff crm setup`.")(crm_setup)


@crm_app.command("check")
def crm_check(config: ConfigOption = Path("handoff.toml")) -> None:
    """Verifies the CRM credentials, that every custom field the daemon writes exists, and
    that the configured owners are active. Exit code 0: ready; 1: something is missing (each
    listed with how to fix it); 2: the CRM refused the credentials or could not be reached."""
    from plg_handoff.connectors.errors import ConnectorError
    from plg_handoff.crm_check import check_crm
    from plg_handoff.worker import build_crm

    loaded = load_config(config)
    try:
        crm = build_crm(loaded, load_secrets(loaded))
        report = check_crm(crm, loaded.crm)
    except ConnectorError as exc:
        console.print(f"[red]crm {loaded.crm.kind}: {exc}[/]")
        raise typer.Exit(2) from None
    for line in report.lines():
        console.print(line, highlight=False, markup=False)
    if report.problems:
        raise typer.Exit(1)


@app.command()
def preview(
    config: ConfigOption = Path("handoff.toml"),
    source: Annotated[
        str | None, typer.Option(help="The source to read (default: the first).")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=400,
            help="Days to read, today included (default: the rules' longest window).",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="The last day (YYYY-MM-DD, UTC; default: today).")
    ] = None,
    account_id: Annotated[
        str | None, typer.Option("--account", help="Show this account's decision only.")
    ] = None,
    compare: Annotated[
        Path | None, typer.Option(help="Another configuration whose decisions to compare.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    samples: Annotated[int, typer.Option(min=0, help="Accounts shown per route.")] = 3,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 when a setting you wrote matches nothing sent.")
    ] = False,
) -> None:
    """What the rules would decide over the real source, before going live: routes, what fired
    and was filtered, samples with their evidence, the mapping's coverage and warnings. Reads
    the source once; writes nothing (no CRM call, no workflow, no notification)."""
    from datetime import date

    from plg_handoff.preview import FORMATS, render, run_preview

    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    try:
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise typer.BadParameter(f"--end {end!r} is not a date (YYYY-MM-DD)") from None
    loaded = load_config(config)
    configure_logging(loaded.log.level, loaded.log.format)  # to stderr: stdout is the preview
    other = (str(compare), load_config(compare)) if compare is not None else None
    result = run_preview(
        loaded, load_secrets(loaded), source_name=source, days=days, end=last, compare=other
    )
    typer.echo(render(result, fmt, account=account_id, samples=samples), nl=False)
    if strict and result.strict_failures():
        raise typer.Exit(1)


@app.command("check-config")
def check_config(
    config: ConfigOption = Path("handoff.toml"),
    probe: Annotated[
        bool,
        typer.Option(
            help="Also read each source (nothing written) and check that the mapping"
            " matches what it sends; exit 1 when a setting you wrote cannot."
        ),
    ] = False,
    probe_days: Annotated[int, typer.Option(min=1, max=400, help="Days each probe reads.")] = 7,
) -> None:
    """Validates the configuration file and the secrets in the environment."""
    loaded = load_config(config)
    secrets = load_secrets(loaded)
    console.print(
        f"[green]{config}: valid[/] ({len(loaded.sources)} source(s), crm {loaded.crm.kind})"
    )
    if not probe:
        return
    from plg_handoff.preview import run_preview

    configure_logging(loaded.log.level, loaded.log.format)
    failed = False
    for source in loaded.sources:
        found = run_preview(loaded, secrets, source_name=source.name, days=probe_days)
        coverage = found.coverage
        console.print(
            f"source {source.name}: {coverage.read} events, {coverage.accounts} accounts in"
            f" {probe_days} days; {len(coverage.warnings)} mapping warning(s)",
            highlight=False,
        )
        for warning in coverage.warnings:
            console.print(f"  {warning.line()}", highlight=False, markup=False, soft_wrap=True)
        failed = failed or bool(found.strict_failures())
    if failed:
        raise typer.Exit(1)


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


handoff_app = typer.Typer(
    help="Steer one handoff: explain, snooze, disqualify, reassign, contacted, sla."
)
app.add_typer(handoff_app, name="handoff")
HandoffArgument = Annotated[
    str,
    typer.Argument(help="The handoff: its workflow id handoff/<account>/<n>, or <account>/<n>."),
]


@handoff_app.command("explain")
def handoff_explain(
    handoff: HandoffArgument,
    config: ConfigOption = Path("handoff.toml"),
    as_json: Annotated[bool, typer.Option("--json", help="The raw query result.")] = False,
) -> None:
    """Stage, owner, SLAs (met, breached, due), the next timer and what operators did."""
    from plg_handoff.explain import handoff_status, render_handoff

    workflow_id = _handoff_id(handoff)
    status = asyncio.run(_with_client(config, lambda c: handoff_status(c, workflow_id)))
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(status), indent=2, default=str))
    else:
        typer.echo(render_handoff(status))


@handoff_app.command("snooze")
def handoff_snooze(
    handoff: HandoffArgument,
    hours: Annotated[float, typer.Option(help="How long the SLA and expiry timers pause.")],
    reason: ReasonOption,
    config: ConfigOption = Path("handoff.toml"),
) -> None:
    """Pauses the handoff's SLA and expiry timers; the CRM is still read."""
    from plg_handoff.workflows.handoff import SnoozeHandoff

    _steer_handoff(config, handoff, "snooze", SnoozeHandoff(hours, reason, _operator()))


@handoff_app.command("disqualify")
def handoff_disqualify(
    handoff: HandoffArgument, reason: ReasonOption, config: ConfigOption = Path("handoff.toml")
) -> None:
    """Closes the handoff as disqualified."""
    from plg_handoff.workflows.handoff import DisqualifyHandoff

    _steer_handoff(config, handoff, "disqualify", DisqualifyHandoff(reason, _operator()))


@handoff_app.command("reassign")
def handoff_reassign(
    handoff: HandoffArgument,
    reason: ReasonOption,
    owner: Annotated[
        str | None, typer.Option(help="The CRM owner id; default: the pool's next owner.")
    ] = None,
    config: ConfigOption = Path("handoff.toml"),
) -> None:
    """Moves the opportunity to another owner, with a task for them."""
    from plg_handoff.workflows.handoff import ReassignHandoff

    _steer_handoff(config, handoff, "reassign", ReassignHandoff(reason, owner, _operator()))


@handoff_app.command("contacted")
def handoff_contacted(
    handoff: HandoffArgument,
    note: Annotated[str, typer.Option(help="Who reached out, how.")],
    config: ConfigOption = Path("handoff.toml"),
) -> None:
    """Records first contact made outside what the CRM shows."""
    from plg_handoff.workflows.handoff import MarkContacted

    _steer_handoff(config, handoff, "mark_contacted", MarkContacted(note, _operator()))


@handoff_app.command("sla")
def handoff_sla(
    handoff: HandoffArgument,
    reason: ReasonOption,
    assign_within: Annotated[str | None, typer.Option(help="e.g. 2h.")] = None,
    contact_within: Annotated[str | None, typer.Option(help="e.g. 8h.")] = None,
    config: ConfigOption = Path("handoff.toml"),
) -> None:
    """Changes the running handoff's SLAs (counted from the signal, snoozes added)."""
    from pydantic import TypeAdapter

    from plg_handoff.config import Duration
    from plg_handoff.workflows.handoff import AdjustSla

    def seconds(value: str | None) -> float | None:
        if value is None:
            return None
        return TypeAdapter(Duration).validate_python(value).total_seconds()

    request = AdjustSla(reason, seconds(assign_within), seconds(contact_within), _operator())
    _steer_handoff(config, handoff, "adjust_sla", request)


def _handoff_id(handoff: str) -> str:
    return handoff if handoff.startswith("handoff/") else f"handoff/{handoff}"


def _steer_handoff(config: Path, handoff: str, update: str, request: object) -> None:
    from plg_handoff.explain import render_handoff
    from plg_handoff.workflows.handoff import HandoffStatus

    status = _update(config, _handoff_id(handoff), update, request, HandoffStatus)
    typer.echo(render_handoff(status))


@app.command()
def report(
    config: ConfigOption = Path("handoff.toml"),
    since: Annotated[
        str | None, typer.Option(help="Handoffs signalled on or after this UTC date (YYYY-MM-DD).")
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Group by trigger, segment, owner or tier.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """The handoff funnel from Temporal visibility: counts, contact, meeting and win rates,
    p50/p90 time to contact, SLA breaches; and each trigger's calibrated win rate."""
    from datetime import UTC, datetime

    from plg_handoff.domain.funnel import GROUP_BYS
    from plg_handoff.report import FORMATS, build_report, default_since, render

    if by is not None and by not in GROUP_BYS:
        raise typer.BadParameter(f"--by must be one of {', '.join(GROUP_BYS)}")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    try:
        start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else default_since()
    except ValueError:
        raise typer.BadParameter(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
    loaded = load_config(config)
    configure_logging(loaded.log.level, loaded.log.format)  # to stderr: stdout is the report
    group_by = next((g for g in GROUP_BYS if g == by), None)
    result = asyncio.run(_with_client(config, lambda c: build_report(c, loaded, start, group_by)))
    typer.echo(render(result, next(f for f in FORMATS if f == fmt)), nl=False)


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
    from plg_handoff.activities.contracts import AccountSummary, account_workflow_id
    from plg_handoff.explain import render

    summary = _update(config, account_workflow_id(account_id), update, request, AccountSummary)
    typer.echo(render(summary))


def _update(config: Path, workflow_id: str, update: str, request: object, answer: type[T]) -> T:
    """Sends an operator's update and waits for the workflow's answer; a refusal by the
    update's validator is printed and exits 1."""
    from temporalio.client import WorkflowUpdateFailedError

    async def send(client: Client) -> T:
        handle = client.get_workflow_handle(workflow_id)
        result: T = await handle.execute_update(update, request, result_type=answer)
        return result

    try:
        return asyncio.run(_with_client(config, send))
    except WorkflowUpdateFailedError as exc:
        console.print(f"[red]refused[/]: {exc.cause}")
        raise SystemExit(1) from None


async def _with_client(config: Path, use: Callable[[Client], Awaitable[T]]) -> T:
    """Runs `use` with a client of the configured Temporal; needs only Temporal's secrets (and
    the payload keys when payloads are encrypted)."""
    from plg_handoff.worker import connect

    loaded = load_config(config)
    client = await connect(loaded, _environment_secrets())
    return await use(client)


def _environment_secrets() -> Secrets:
    """The secrets in the environment, none required; a ConfigError names a malformed one."""
    from pydantic import ValidationError

    from plg_handoff.config import Secrets, format_validation_error

    try:
        return Secrets()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "environment")) from None


def _operator() -> str:
    return os.environ.get("USER") or "operator"


def main() -> None:
    """The console script. A configuration error exits 2 with its message; Temporal being
    unreachable or refusing a call exits 1 with one line saying so.

    The process then ends without the interpreter's finalization (`os._exit`, after the exit
    handlers and a flush of the output): the Temporal client's native threads can outlive the
    command and abort a finalizing interpreter ("PyGILState_Release", temporalio/sdk-python
    #300), which made about one in fifteen finished `handoff report` runs end in SIGABRT."""
    try:
        code = _run_command()
    except BaseException:  # noqa: BLE001  # the outermost frame: reported as Python would
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _run_command() -> int:
    try:
        app()
    except ConfigError as exc:
        # Escaped: the message names sections as "[temporal]", which is not markup.
        console.print(f"[red]configuration error[/]\n{escape(str(exc))}")
        return 2
    except TemporalUnreachableError as exc:
        console.print(f"[red]Temporal unreachable[/]: {exc}")
        return 1
    except SystemExit as exc:
        return _exit_status(exc.code)
    except Exception as exc:
        line = refusal(exc)
        if line is None:
            raise
        console.print(f"[red]Temporal refused[/] {line}")
        return 1
    return 0


def _exit_status(code: str | int | None) -> int:
    """The status `sys.exit(code)` gives: a message is printed and exits 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)
    return 1
