"""Periodic work: APScheduler 3.x only *enqueues* system jobs; workers run them.

APScheduler 3.x keeps its jobs in memory and cannot share a store between processes, so every
process that runs workers has its own scheduler. Each trigger fires on wall-clock multiples of
its interval (the same instants in every process), and the job it enqueues carries the unique
key `operation@slot`, where slot is the interval's number since the epoch: however many
processes fire, one job per slot is queued (the others' inserts hit the unique column).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from models.operations.jobs_admin import enqueue_periodic

from .settings import JobSettings

__all__ = ["Periodic", "periodic_work", "Scheduler", "slot_of"]

log = logging.getLogger("tallystick.scheduler")


@dataclass(frozen=True)
class Periodic:
    operation: str  # a system operation (Access.SYSTEM)
    seconds: float
    input: dict[str, Any]


def periodic_work(settings: JobSettings) -> list[Periodic]:
    """What runs periodically, and how often (settings.jobs)."""
    return [
        Periodic("system.jobs.sweep", settings.sweep_seconds, {}),
        Periodic("system.jobs.purge", settings.purge_seconds, {"retention_days": settings.retention_days}),
        Periodic("system.federation.prune", settings.purge_seconds, {}),  # retention from settings.federation
        Periodic("system.accounts.prune", settings.purge_seconds, {}),  # old account mail, links, request counts
    ]


def slot_of(seconds: float, now: float | None = None) -> str:
    """The number of the interval `now` falls in, counted from the epoch: the same in every process."""
    return str(int((time.time() if now is None else now) // seconds))


class Scheduler:
    """One AsyncIOScheduler per process; `on_enqueued` wakes this process's idle workers."""

    def __init__(self, work: list[Periodic], on_enqueued: Callable[[], None] | None = None) -> None:
        self.work = work
        self.on_enqueued = on_enqueued
        self._scheduler: AsyncIOScheduler | None = None
        self._ticking: set[asyncio.Task[Any]] = set()
        self._stopped = False

    async def tick(self, periodic: Periodic, now: float | None = None) -> bool:
        """Enqueue this slot's job; False when another process (or an earlier tick) already did."""
        if self._stopped:  # a tick the executor had already started as a task when we stopped
            return False
        task = asyncio.current_task()
        if task is not None:
            self._ticking.add(task)  # stop() waits for it: no query may outlive the database
        try:
            job = await enqueue_periodic(periodic.operation, periodic.input, slot_of(periodic.seconds, now))
        except asyncio.CancelledError:
            if not self._stopped:
                raise
            # stop() cancelled us: end quietly, since APScheduler logs an ERROR for an exception
            # from a job, and the next process start enqueues this slot anyway.
            return False
        except Exception:
            log.exception("scheduler: cannot enqueue %s; the next slot will", periodic.operation)
            return False
        finally:
            if task is not None:
                self._ticking.discard(task)
        if job is not None and self.on_enqueued is not None:
            self.on_enqueued()
        return job is not None

    def start(self) -> None:
        """Start firing; call it inside the ORM context the ticks should use (they inherit it)."""
        if self._scheduler is not None:
            return
        self._stopped = False
        scheduler = AsyncIOScheduler(timezone=timezone.utc)
        epoch = datetime.fromtimestamp(0, timezone.utc)
        for periodic in self.work:
            scheduler.add_job(
                self.tick,
                IntervalTrigger(seconds=periodic.seconds, start_date=epoch, timezone=timezone.utc),
                args=[periodic],
                id=periodic.operation,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=max(1, int(periodic.seconds)),
            )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop firing and let a tick in progress finish (before the caller closes the database).

        APScheduler's shutdown cancels the ticks its executor is running, so it comes last.
        """
        self._stopped = True
        if self._scheduler is not None:
            self._scheduler.pause()
        if self._ticking:  # an enqueue is one short INSERT: let it finish, cancel only a stuck one
            _, stuck = await asyncio.wait(list(self._ticking), timeout=2.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        self._ticking.clear()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
