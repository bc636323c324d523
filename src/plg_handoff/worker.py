"""Wires connectors into activities and activities into a Temporal worker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client, TLSConfig
from temporalio.worker import Worker

from plg_handoff.activities.contracts import handoff_task_queue
from plg_handoff.activities.crm import CrmActivities
from plg_handoff.activities.crm_queue import crm_activities_per_second, crm_task_queue
from plg_handoff.activities.errors import ConnectorErrorInterceptor
from plg_handoff.activities.evaluate import CalibrationCache, EvaluateActivities
from plg_handoff.activities.funnel_reader import measured_conversions, read_funnel
from plg_handoff.activities.keepalive import KeepAliveInterceptor
from plg_handoff.activities.notify import NotifyActivities
from plg_handoff.activities.refresh import RefreshActivities
from plg_handoff.activities.usage import UsageActivities
from plg_handoff.activities.writeback import WritebackActivities
from plg_handoff.config import Config, Secrets
from plg_handoff.connectors.base import CrmConnector, SupportsSharedPace
from plg_handoff.connectors.registry import load
from plg_handoff.connectors.segment.writeback import SegmentWriteback
from plg_handoff.connectors.slack import SlackWebhook
from plg_handoff.domain.funnel import FunnelRecord
from plg_handoff.pace_sharing import keep_pace_shared
from plg_handoff.payloads import data_converter
from plg_handoff.temporal_errors import TemporalUnreachableError
from plg_handoff.workflow_code import compile_workflow_code_once
from plg_handoff.workflows.handoff import HandoffWorkflow
from plg_handoff.workflows.owner_pool import OwnerPoolWorkflow
from plg_handoff.workflows.registry import ALL_WORKFLOWS

EVALUATION_THREADS = 4
HEARTBEAT_THROTTLE = timedelta(seconds=5)


async def connect(config: Config, secrets: Secrets) -> Client:
    """A client for the configured Temporal: local dev server, self-hosted, or Temporal Cloud
    (TLS with a client certificate, or an API key); payloads encrypted when configured."""
    settings = config.temporal
    tls: bool | TLSConfig = settings.tls
    if settings.tls_client_cert and settings.tls_client_key:
        tls = TLSConfig(
            client_cert=settings.tls_client_cert.read_bytes(),
            client_private_key=settings.tls_client_key.read_bytes(),
        )
    api_key = secrets.temporal_api_key.get_secret_value() if secrets.temporal_api_key else None
    converter = data_converter(settings, secrets)
    try:
        return await Client.connect(
            settings.address,
            namespace=settings.namespace,
            tls=tls or bool(api_key),
            api_key=api_key,
            data_converter=converter,
        )
    except RuntimeError as exc:  # how the SDK's bridge reports a failed connection
        raise TemporalUnreachableError(
            f"cannot connect to Temporal at {settings.address}: {exc}"
        ) from exc


def build_crm(config: Config, secrets: Secrets) -> CrmConnector:
    """The configured CRM's connector, with the secrets of its kind (see _required_secrets)."""
    connector = load("crm", config.crm.kind)
    if config.crm.kind == "salesforce":
        salesforce: CrmConnector = connector.from_secrets(config.crm, secrets)  # type: ignore[attr-defined]
        return salesforce
    token = secrets.hubspot_access_token
    if token is None:
        raise ValueError("HANDOFF_HUBSPOT_ACCESS_TOKEN is not set")
    crm: CrmConnector = connector(config.crm, token.get_secret_value())
    return crm


def build_segment_writeback(config: Config, secrets: Secrets) -> SegmentWriteback | None:
    settings = config.writeback.segment
    if settings is None or secrets.segment_write_key is None:
        return None
    return SegmentWriteback(
        secrets.segment_write_key.get_secret_value(),
        str(settings.host),
        settings.timeout.total_seconds(),
    )


def build_notifier(client: Client, config: Config, secrets: Secrets) -> NotifyActivities:
    """Slack notifications and the weekly digest; inert while [notifications] is off."""
    settings = config.notifications
    task_queue = config.temporal.task_queue

    def webhook(url: SecretStr | None) -> SlackWebhook | None:
        if url is None or not url.get_secret_value():
            return None
        return SlackWebhook(url.get_secret_value(), settings.timeout.total_seconds())

    async def read_handoffs(since: datetime) -> list[FunnelRecord]:
        records, _ = await read_funnel(client, since, task_queue)
        return records

    return NotifyActivities(
        settings,
        client,
        task_queue,
        webhook(secrets.slack_webhook_url),
        webhook(secrets.slack_escalation_webhook_url),
        read_handoffs,
    )


def build_calibration(client: Client, config: Config) -> CalibrationCache | None:
    """Self-calibration's figures for the evaluation; None while [calibration] is off. Needs
    the running event loop (the worker's)."""
    if not config.calibration.enabled:
        return None
    return CalibrationCache(
        lambda: measured_conversions(client, config),
        config.calibration.refresh_interval.total_seconds(),
        asyncio.get_running_loop(),
    )


class Workers:
    """The workers of one process, run together: `async with build_worker(...)` as with one
    temporalio Worker; `alongside` runs while they run (and is cancelled with them)."""

    def __init__(
        self, *workers: Worker, alongside: Callable[[], Coroutine[Any, Any, None]] | None = None
    ) -> None:
        self.workers = workers
        self._alongside = alongside
        self._running = AsyncExitStack()

    async def __aenter__(self) -> Workers:
        async with AsyncExitStack() as starting:
            for worker in self.workers:
                await starting.enter_async_context(worker)
            if self._alongside is not None:
                task = asyncio.create_task(self._alongside())
                starting.push_async_callback(_cancelled, task)
            self._running = starting.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._running.__aexit__(exc_type, exc, traceback)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_worker(client: Client, config: Config, secrets: Secrets, crm: CrmConnector) -> Workers:
    """The deployment's task queue (workflows, usage, evaluation, notifications), the handoff
    queue (handoffs and owner pools, never behind a sync's evaluations) and the CRM task queue,
    whose activities the Temporal server hands out at the CRM's pace to every worker together."""
    for source in config.sources:  # an unknown or broken connector fails here, not per cycle
        load("source", source.kind)
    compile_workflow_code_once()
    usage = UsageActivities(config, secrets, client, share_budgets=True)
    writeback = WritebackActivities(build_segment_writeback(config, secrets))
    evaluate = EvaluateActivities(config, build_calibration(client, config))
    notifier = build_notifier(client, config, secrets)
    crm_activities = CrmActivities(crm, client, config)
    refresh = RefreshActivities(crm, client, config)
    calling_the_crm: list[Callable[..., Any]] = [
        crm_activities.assign_owner,
        crm_activities.find_owner,
        crm_activities.upsert_opportunity,
        crm_activities.create_owner_task,
        crm_activities.read_follow_up,
        crm_activities.record_funnel,
        refresh.refresh_open_opportunities,
    ]
    main = Worker(
        client,
        task_queue=config.temporal.task_queue,
        workflows=list(ALL_WORKFLOWS),
        activities=[
            usage.pull_usage,
            evaluate.evaluate_account,
            writeback.announce_handoff,
            notifier.notify,
            notifier.post_digest,
            # Served here too for the tasks workflows scheduled before the CRM queue existed.
            *calling_the_crm,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=EVALUATION_THREADS),
        max_cached_workflows=config.temporal.max_cached_workflows,
        interceptors=[ConnectorErrorInterceptor(), KeepAliveInterceptor()],
        # The SDK forwards heartbeats at most every 0.8 times the heartbeat timeout (96 s for a
        # pull): a pull killed within that time would resume from an old point. Every 5 s, a
        # retried pull resumes close to where the crashed one got.
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    )
    handoffs = Worker(
        client,
        task_queue=handoff_task_queue(config.temporal.task_queue),
        workflows=[HandoffWorkflow, OwnerPoolWorkflow],
        max_cached_workflows=config.temporal.max_cached_workflows,
        # What a handoff schedules on its own queue; its CRM calls go to the CRM queue.
        activities=[writeback.announce_handoff, notifier.notify],
        interceptors=[ConnectorErrorInterceptor(), KeepAliveInterceptor()],
    )
    crm_queue = Worker(
        client,
        task_queue=crm_task_queue(config.temporal.task_queue),
        activities=calling_the_crm,
        interceptors=[ConnectorErrorInterceptor(), KeepAliveInterceptor()],
        max_task_queue_activities_per_second=crm_activities_per_second(config.crm),
    )
    sharing = (
        functools.partial(keep_pace_shared, client, crm_task_queue(config.temporal.task_queue), crm)
        if isinstance(crm, SupportsSharedPace)
        else None
    )
    return Workers(main, handoffs, crm_queue, alongside=sharing)
