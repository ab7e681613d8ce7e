"""Every durable process, declared in one place (the engine: models/engine/).

A newcomer reads this page to learn what runs in the background: each machine's states, the
moves its handler may make, what a person may do by hand, and how it retries. The handlers live
with the code they drive (server/jobs.py for jobs); the runner finds them through MACHINES.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .actors import AccessToken
from .engine import Machine, backoff
from .jobs import FINISHED, MANUAL_TRANSITIONS, Job, JobState, revoke_job_tokens

__all__ = ["JOBS"]


async def _extend_job_tokens(jobs: list[Job], deadline: datetime) -> None:
    """A running job's bearer token lives as long as its lease."""
    token_ids = [job.job_token_id for job in jobs if job.job_token_id and job.state == JobState.RUNNING.value]
    if token_ids:
        await AccessToken.filter(id__in=token_ids, revoked_at=None).update(expires_at=deadline)


async def _revoke_job_tokens(jobs: list[Job], _: datetime) -> None:
    await revoke_job_tokens(*[job.id for job in jobs])


async def _job_reaped(job: Job, gave_up: bool, now: datetime) -> None:
    """A job whose worker died: its token ends; users see why it failed, or that it was requeued."""
    from .operations.jobs import record_job_event  # the operations import this module's machines

    await revoke_job_tokens(job.id)
    if gave_up:
        problem = {
            "type": "https://tallystick.dev/problems/job-abandoned",
            "code": "job-abandoned",
            "title": "Job abandoned",
            "status": 500,
            "detail": f"the worker running this job stopped {job.attempts} times; it will not be tried again",
        }
        await Job.filter(id=job.id).update(error=problem, finished_at=now)
    job.state = JobState.FAILED.value if gave_up else JobState.QUEUED.value
    await record_job_event(job, "job.failed" if gave_up else "job.requeued", {"attempts": job.attempts})


def _claimed(now: datetime) -> dict[str, Any]:
    return {"started_at": now}


JOBS: Machine[Job] = Machine(
    name="jobs",
    model=Job,
    states=[state.value for state in JobState],
    ready=JobState.QUEUED.value,
    running=JobState.RUNNING.value,  # users see it: the job record says "running"
    failed=JobState.FAILED.value,
    terminal=FINISHED,
    transitions={JobState.RUNNING.value: {JobState.SUCCEEDED.value, JobState.FAILED.value}},
    manual=MANUAL_TRANSITIONS,  # admins terminate and requeue, callers cancel, job-write tokens report
    retry=backoff.fixed(0),  # a job is retried only when its worker died: at once
    max_attempts=3,
    attempts_column="max_attempts",  # each job carries its own limit
    lease_seconds=lambda site: site.job_lease_seconds,
    batch=1,
    order=("id",),
    claim_values=_claimed,
    on_renew=_extend_job_tokens,
    on_release=_revoke_job_tokens,
    on_reaped=_job_reaped,
)
