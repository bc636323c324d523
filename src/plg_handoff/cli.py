"""The `handoff` command."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from plg_handoff.config import ConfigError, load_config, load_secrets
from plg_handoff.logs import configure_logging, get_logger

app = typer.Typer(
    help="PLG handoff daemon: product usage in, CRM opportunities out, on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
log = get_logger("plg_handoff.cli")

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
    created = crm.ensure_properties()
    console.print(f"created: {', '.join(created) or 'nothing, all present'}")


@app.command("check-config")
def check_config(config: ConfigOption = Path("handoff.toml")) -> None:
    """Validates the configuration file and the secrets in the environment."""
    loaded = load_config(config)
    load_secrets(loaded)
    console.print(
        f"[green]{config}: valid[/] ({len(loaded.sources)} source(s), crm {loaded.crm.kind})"
    )


def main() -> None:
    """The console script: a configuration error from any command exits 2 with its message."""
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]configuration error[/]\n{exc}")
        raise SystemExit(2) from None
