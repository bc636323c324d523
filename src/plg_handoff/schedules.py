"""One Temporal Schedule per usage source runs its sync on the configured interval; one more
posts the weekly digest of tier-3 handoffs when notifications are on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from plg_handoff.config import Config, SourceConfig
from plg_handoff.workflows.digest import DigestInput, DigestWorkflow
from plg_handoff.workflows.usage_sync import UsageSyncInput, UsageSyncWorkflow

DIGEST_SCHEDULE = "notifications/weekly-digest"
# Temporal's calendar counts days of the week from Sunday = 0.
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


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
    """Creates the missing schedules (running them once now) and updates the others, running
    one now only when its interval changed or it has not run within an interval. A worker
    that merely restarts triggers nothing: the Schedule runs whether workers are up or not,
    and every extra run spends the source's query budget (Mixpanel: 60 exports an hour)."""
    ids = []
    for source in config.sources:
        schedule = _schedule(config, source)
        sid = schedule_id(source.name)
        try:
            await client.create_schedule(sid, schedule, trigger_immediately=True)
        except ScheduleAlreadyRunningError:
            run_now = False

            def replace(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                nonlocal run_now
                run_now = _run_now(current.description, new)
                return ScheduleUpdate(schedule=new)

            handle = client.get_schedule_handle(sid)
            await handle.update(replace)
            if run_now:
                await handle.trigger()
        ids.append(sid)
    if await ensure_digest_schedule(client, config):
        ids.append(DIGEST_SCHEDULE)
    return ids


def _run_now(current: ScheduleDescription, new: Schedule) -> bool:
    """Whether a worker's start should run the sync now: its interval changed, or no run
    started within the last interval (a paused or long-broken Schedule)."""
    if current.schedule.spec.intervals != new.spec.intervals:
        return True
    every = max((i.every for i in new.spec.intervals), default=timedelta(0))
    starts = [action.started_at for action in current.info.recent_actions]
    return not starts or datetime.now(UTC) - max(starts) > every


def digest_schedule(config: Config) -> Schedule:
    settings = config.notifications
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DigestWorkflow.run,
            DigestInput(),
            id=DIGEST_SCHEDULE,
            task_queue=config.temporal.task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_week=[ScheduleRange(_WEEKDAYS.index(settings.digest_day))],
                    hour=[ScheduleRange(hour)],
                    minute=[ScheduleRange(minute)],
                    second=[ScheduleRange(0)],
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_digest_schedule(client: Client, config: Config) -> bool:
    """The weekly digest's schedule while notifications and the digest are on; removed when
    they are turned off. Never run at creation: the digest goes out on its day."""
    handle = client.get_schedule_handle(DIGEST_SCHEDULE)
    if not (config.notifications.enabled and config.notifications.digest):
        try:
            await handle.delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return False
    schedule = digest_schedule(config)
    try:
        await client.create_schedule(DIGEST_SCHEDULE, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
    return True
