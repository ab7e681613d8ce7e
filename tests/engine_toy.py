"""A toy durable model for tests/test_engine.py: chores done by a declared machine."""

from __future__ import annotations

from tortoise import fields

from models.base import Entity
from models.engine import Durable


class Chore(Durable, Entity):
    state = fields.CharField(max_length=16, default="todo")
    name = fields.CharField(max_length=50)
    result = fields.CharField(max_length=50, null=True)

    class Meta:
        app = "toy"
        table = "chores"
