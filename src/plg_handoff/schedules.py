"""One Temporal Schedule per usage source runs its sync on the configured interval."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from plg_handoff.config import Config, SourceConfig
from plg_handoff.workflows.usage_sync import UsageSyncInput, UsageSyncWorkflow


def schedule_id(source: str) -> str:
    return f"usage-sync/{source}"


def _schedule(config: Config, source: SourceConfig) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            UsageSyncWorkflow.run,
            UsageSyncInput(source.name),
            id=schedule_id(source.name),
            task_queue=config.temporal.task_queue,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=source.sync_interval)]),
        # A slow cycle is never doubled up: the next one starts after it ends.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_schedules(client: Client, config: Config) -> list[str]:
    """Creates the missing schedules (running them once now) and updates the others."""
    ids = []
    for source in config.sources:
        schedule = _schedule(config, source)
        sid = schedule_id(source.name)
        try:
            await client.create_schedule(sid, schedule, trigger_immediately=True)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            handle = client.get_schedule_handle(sid)
            await handle.update(replace)
            await handle.trigger()
        ids.append(sid)
    return ids
