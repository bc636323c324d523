"""`handoff dev`: the embedded Temporal, the worker, the sandbox CRM and simulated usage in one
process tree that Ctrl-C stops cleanly; a second run reuses the same data."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from plg_handoff.config import (
    Config,
    HubSpotConfig,
    TemporalSettings,
    WebhookSettings,
    load_config,
    load_secrets,
)
from plg_handoff.devserver import DevServer
from plg_handoff.logs import configure_logging, get_logger
from plg_handoff.payloads import data_converter
from plg_handoff.sandbox.feeder import UsageFeeder
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.schedules import ensure_schedules
from plg_handoff.webhooks.receiver import WebhookReceiver
from plg_handoff.worker import build_crm, build_worker

SANDBOX_TOKEN = "sandbox-token"  # noqa: S105  # the local emulator's fixed demo token
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105  # signs sandbox webhooks
DEV_CONFIG = """\
# Written by `handoff dev` on its first run; edit it: it is read at every start.
# The Temporal address and the sandbox CRM address come from the command's options.
data_dir = "."

[[sources]]
kind = "file"
name = "demo"
path = "sandbox/usage"
traits_path = "sandbox/accounts.jsonl"
sync_interval = "{sync_interval}"
window_days = 3

[crm]
kind = "hubspot"

[handoff]
follow_up_poll_interval = "1m"
expire_after = "14d"
"""
log = get_logger(__name__)


@dataclass(frozen=True)
class DevOptions:
    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    sandbox_port: int = 8780
    sync_interval: str = "15s"
    feed_interval_s: float = 20


def dev_config(options: DevOptions) -> Config:
    path = options.data_dir / "handoff.toml"
    if not path.exists():
        options.data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(DEV_CONFIG.format(sync_interval=options.sync_interval), encoding="utf-8")
    config = load_config(path)
    return config.model_copy(
        update={
            "temporal": TemporalSettings(
                address=f"127.0.0.1:{options.port}",
                encrypt_payloads=config.temporal.encrypt_payloads,  # off unless the file says
            ),
            "crm": HubSpotConfig.model_validate(
                {**config.crm.model_dump(), "base_url": f"http://127.0.0.1:{options.sandbox_port}"}
            ),
        }
    )


async def run_dev(options: DevOptions, console: Console) -> None:
    data_dir = options.data_dir.resolve()
    options = dataclasses.replace(options, data_dir=data_dir)
    os.environ.setdefault("HANDOFF_HUBSPOT_ACCESS_TOKEN", SANDBOX_TOKEN)
    os.environ.setdefault("HANDOFF_HUBSPOT_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    config = dev_config(options)
    secrets = load_secrets(config)
    configure_logging(config.log.level, config.log.format, secrets.values())
    token = secrets.hubspot_access_token.get_secret_value() if secrets.hubspot_access_token else ""

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    emulator = HubSpotEmulator(token=token, state_path=data_dir / "sandbox" / "hubspot.json")
    feeder = UsageFeeder(data_dir / "sandbox", interval_s=options.feed_interval_s)
    server = DevServer(
        data_dir,
        port=options.port,
        ui_port=options.ui_port,
        data_converter=data_converter(config.temporal, secrets),
    )
    try:
        emulator.start(port=options.sandbox_port)
        crm = build_crm(config, secrets)
        created = await asyncio.to_thread(crm.ensure_properties)
        await asyncio.to_thread(crm.list_owners)  # loaded before the first handoff needs them
        log.info("dev.crm_ready", url=emulator.url, properties_created=created)
        feeder.write_initial()
        feeder.start()
        client = await server.start()
        secret = secrets.hubspot_client_secret
        receiver = WebhookReceiver(
            client,
            config.webhooks or WebhookSettings(port=0),  # any free port unless configured
            secret.get_secret_value() if secret else SANDBOX_CLIENT_SECRET,
            task_queue=config.temporal.task_queue,
        )
        async with build_worker(client, config, secrets, crm):
            await ensure_schedules(client, config)
            async with receiver:
                _banner(console, server, emulator, data_dir)
                console.print(f"  CRM webhooks     {receiver.url}/webhooks/hubspot, /salesforce\n")
                await stop.wait()
            console.print("[bold]Stopping[/]: worker, Temporal dev server, sandbox…")
    finally:
        feeder.stop()
        server.stop()
        emulator.stop()
    console.print("Stopped. Run `handoff dev` again to carry on with the same data.")


def _banner(console: Console, server: DevServer, emulator: HubSpotEmulator, data: Path) -> None:
    ui = f"{server.ui_url}/namespaces/{server.namespace}/workflows"
    console.print(
        "\n[bold green]PLG handoff daemon: dev mode is up[/]\n"
        f"  Temporal UI      {ui}\n"
        f"  Sandbox HubSpot  {emulator.url}/  (deals, owners, tasks the daemon wrote)\n"
        f"  Temporal gRPC    {server.address}\n"
        f"  Config           {data / 'handoff.toml'}\n"
        f"  Data             {data}\n"
        "In Temporal UI, filter with e.g. "
        '[cyan]WorkflowType="HandoffWorkflow" AND HandoffStage="assigned"[/].\n'
        "Ctrl-C stops everything.\n"
    )
