"""With `[temporal] encrypt_payloads` on, Temporal's database holds no account name, email
domain or owner email in plain text: a real handoff (usage file -> sync -> account -> handoff ->
HubSpot deal) through the embedded dev server on its SQLite file, the real worker and the
HubSpot emulator, then the file's bytes and the raw histories are searched. The same run with
encryption off finds every one of them, so the search can find what it looks for. The encrypted
histories replay with the codec, and an operator's command reads the handoff."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from plg_handoff.config import load_secrets
from plg_handoff.devserver import DevServer
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker, connect
from plg_handoff.workflows.registry import ALL_WORKFLOWS
from tests.conftest import TOKEN, make_config
from tests.support import (
    HANDOFF,
    eventually,
    free_port,
    handoff_status,
    sync,
    usage_lines,
    write_profiles,
    write_usage,
)

pytestmark = pytest.mark.e2e
KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
NAME = "Umbrella Pharmaceuticals"
DOMAIN = "umbrella-pharma.example"
# What the SDK's core records in markers beside the payloads it encodes: a patch's id, a local
# activity's sequence number, type, attempt and times. No value of ours.
SDK_MARKER_RECORDS = ("details[patch-data].payloads", "details[data].payloads")


def raw_bytes(history: WorkflowHistory) -> bytes:
    return b"".join(event.SerializeToString() for event in history.events)


def payloads_of(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every payload in a history event with where it sits, but the search attributes (indexed
    by the server, so never encrypted)."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    yield from payloads_of(item, f"{path}.{field.name}[{key}]")
            continue
        for item in value if field.is_repeated else [value]:
            yield from payloads_of(item, f"{path}.{field.name}")


@pytest.mark.parametrize("encrypt", [True, False], ids=["encrypted", "plain"])
async def test_with_encryption_on_the_database_holds_no_name_or_email_in_plain_text(
    encrypt: bool, hubspot: HubSpotEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_CODEC_KEYS", KEYS)
    account = f"acct-{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    write_usage(tmp_path / "usage", "export.jsonl", usage_lines(account, today, 9, 9))
    write_profiles(
        tmp_path / "accounts.jsonl",
        {account: {"name": NAME, "plan": "team", "seat_limit": 10, "domains": [DOMAIN]}},
    )
    data = tmp_path / "temporal"
    server, unencrypted = await dev_server(data)  # the client reads histories as stored
    try:
        temporal = {"address": server.address, "encrypt_payloads": encrypt}
        config = make_config(tmp_path, hubspot.url, temporal=temporal)
        secrets = load_secrets(config)
        client = await connect(config, secrets)
        crm = build_crm(config, secrets)
        crm.ensure_properties()
        async with build_worker(client, config, secrets, crm):
            await sync(client, config)
            status = await eventually(
                lambda: handoff_status(client, f"handoff/{account}/1"),
                lambda s: s is not None and s.stage == "assigned",
            )
            if encrypt:  # the worker answers the command's query
                explained = await asyncio.to_thread(
                    operator_explains, tmp_path, server.address, f"{account}/1"
                )
                assert explained.returncode == 0, explained.stderr
                assert f"handoff handoff/{account}/1: assigned" in explained.stdout
        assert status is not None
        owner = next(o for o in crm.list_owners() if o.id == status.owner_id)
        assert NAME in hubspot.objects("tasks")[0]["properties"]["hs_task_subject"]
        ids = [f"account/{account}", f"handoff/{account}/1"]
        histories = [await unencrypted.get_workflow_handle(i).fetch_history() for i in ids]
        if encrypt:
            unencrypted_payloads = {
                (EventType.Name(e.event_type), where)
                for h in histories
                for e in h.events
                for where, p in payloads_of(e)
                if p.metadata.get("encoding") != b"binary/encrypted"
                and not where.endswith(SDK_MARKER_RECORDS)
            }
            assert unencrypted_payloads == set()
            replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=client.data_converter)
            for history in histories:
                await replayer.replay_workflow(history)
    finally:
        server.stop()

    personal = {NAME.encode(), DOMAIN.encode(), owner.email.encode()}
    in_histories = {p for p in personal if any(p in raw_bytes(h) for h in histories)}
    stored = b"".join(path.read_bytes() for path in data.glob("temporal.db*"))
    in_database = {p for p in personal if p in stored}
    if encrypt:
        assert in_histories == set()
        assert in_database == set()
    else:
        assert in_histories == personal
        assert in_database == personal


async def dev_server(data: Path) -> tuple[DevServer, Client]:
    """The embedded dev server on its own SQLite file; other ports again when one of those
    picked was taken before the server bound it (tests of other runs share the machine)."""
    for attempt in range(3):
        server = DevServer(data, port=free_port(), ui_port=free_port())
        try:
            return server, await server.start()
        except RuntimeError:
            server.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def operator_explains(
    tmp_path: Path, address: str, handoff: str
) -> subprocess.CompletedProcess[str]:
    """`handoff handoff explain` as an operator runs it, with the payload keys."""
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[temporal]\naddress = "{address}"\nencrypt_payloads = true\n'
        '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n[crm]\nkind = "hubspot"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return subprocess.run(
        [str(HANDOFF), "handoff", "explain", handoff, "--config", str(config)],
        env={**env, "HANDOFF_CODEC_KEYS": KEYS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
