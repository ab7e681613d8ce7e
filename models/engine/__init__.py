"""The one engine: declared state machines (machine.py), one backoff (backoff.py), one runner (runner.py)."""

from . import backoff
from .machine import MACHINES, Durable, EngineError, GiveUp, Go, Machine, Machines, Outcome, Pump, Retry
from .runner import (
    Lease,
    LostLease,
    Runner,
    claim,
    claimed_at_birth,
    move,
    reap,
    reap_all,
    record,
    release,
    run_claimed,
    run_due,
)

__all__ = [
    "MACHINES", "Durable", "EngineError", "GiveUp", "Go", "Lease", "LostLease", "Machine", "Machines", "Outcome",
    "Pump", "Retry", "Runner", "backoff", "claim", "claimed_at_birth", "move", "reap", "reap_all", "record", "release", "run_claimed", "run_due",
]
