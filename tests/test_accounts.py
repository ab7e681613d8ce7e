"""Registration, login, bearer tokens, roles and admin user management."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from models.actors import AccessToken, User
from models.events import Event
from models.security import check_password, hash_password

from .conftest import Api, assert_problem


async def test_register__returns_user_and_a_working_token(api: Api) -> None:
    reply = await api.post("/api/v1/auth/register", {"username": "Alice", "password": "s3cret-pass", "email": "a@example.org"})
    assert reply.status == 201, reply
    assert reply.body["user"]["username"] == "alice"
    me = await api.get("/api/v1/me", token=reply.body["token"])
    assert me.status == 200 and me.body["email"] == "a@example.org"
    assert await Event.filter(name="user.registered").count() == 1


async def test_me__get_users_me_answers_like_me(api: Api) -> None:
    reply = await api.post("/api/v1/auth/register", {"username": "ann", "password": "s3cret-pass", "email": "ann@example.org"})
    assert reply.status == 201, reply
    me = await api.get("/api/v1/me", token=reply.body["token"])
    same = await api.get("/api/v1/users/me", token=reply.body["token"])
    assert me.status == same.status == 200 and same.body == me.body and same.body["username"] == "ann"
    assert_problem(await api.get("/api/v1/users/me"), 401, "authentication-required")


async def test_register__token_is_stored_hashed(api: Api) -> None:
    reply = await api.post("/api/v1/auth/register", {"username": "bob", "password": "s3cret-pass", "email": "b@example.org"})
    token = reply.body["token"]
    stored = [row.token_hash for row in await AccessToken.all()]
    assert token not in stored and all(len(value) == 64 for value in stored)
    user = await User.get(username="bob")
    assert "s3cret-pass" not in user.password_hash and user.password_hash.startswith("scrypt$")


def test_password_hash__production_cost_is_the_default_and_every_cost_verifies() -> None:
    """The suite hashes at a cheap scrypt cost (tests/conftest.py); a process that does not lower
    it hashes at n=2**14, r=8, p=1, and such a hash still verifies where the cost is low."""
    assert hash_password("correct horse").startswith("scrypt$16$8$1$")  # the suite's cost
    program = "from models.security import hash_password; print(hash_password('correct horse'))"
    done = subprocess.run([sys.executable, "-c", program], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=60, check=True)
    stored = done.stdout.strip()
    assert stored.startswith("scrypt$16384$8$1$"), stored
    assert check_password("correct horse", stored) and not check_password("correct horsE", stored)


async def test_register__duplicate_username_conflicts(api: Api) -> None:
    body = {"username": "carol", "password": "s3cret-pass", "email": "c@example.org"}
    assert (await api.post("/api/v1/auth/register", body)).status == 201
    assert_problem(await api.post("/api/v1/auth/register", body), 409, "username-taken")
    assert await User.filter(username="carol").count() == 1


async def test_register__bad_input_is_refused_with_field_errors(api: Api) -> None:
    cases = [
        {"username": "x", "password": "short", "email": "x@example.org"},
        {"username": "bad name!", "password": "long enough", "email": "x@example.org"},
        {"username": "ok", "password": "long enough", "email": "not-an-email"},
        {"username": "ok", "password": "long enough"},
        {"username": "ok", "password": 12345678, "email": "x@example.org"},
        {"username": "u" * 500, "password": "long enough", "email": "x@example.org"},
        {"username": "ok", "password": "long enough", "email": "x@example.org", "admin": True},
    ]
    for body in cases:
        problem = assert_problem(await api.post("/api/v1/auth/register", body), 400, "validation-failed")
        assert problem["errors"], body
    assert await User.all().count() == 0


async def test_register__malformed_and_oversized_bodies(api: Api) -> None:
    reply = await api.call("POST", "/api/v1/auth/register", data="{not json", headers={"Content-Type": "application/json"})
    assert_problem(reply, 400, "malformed-json")
    reply = await api.call("POST", "/api/v1/auth/register", data="[1, 2]", headers={"Content-Type": "application/json"})
    assert_problem(reply, 400, "malformed-json")
    huge = '{"username": "' + "a" * (2 * 1024 * 1024) + '"}'
    reply = await api.call("POST", "/api/v1/auth/register", data=huge, headers={"Content-Type": "application/json"})
    assert_problem(reply, 413)
    assert await User.all().count() == 0


async def test_login__issues_a_new_token_and_rejects_wrong_password(api: Api) -> None:
    body = {"username": "dave", "password": "s3cret-pass", "email": "d@example.org"}
    await api.post("/api/v1/auth/register", body, expect=201)
    reply = await api.post("/api/v1/auth/login", {"username": "dave", "password": "s3cret-pass"})
    assert reply.status == 200 and reply.body["token"].startswith("tsk_")
    assert (await api.get("/api/v1/me", token=reply.body["token"])).body["username"] == "dave"
    assert_problem(await api.post("/api/v1/auth/login", {"username": "dave", "password": "wrong"}), 401, "invalid-credentials")
    assert_problem(await api.post("/api/v1/auth/login", {"username": "nobody", "password": "wrong"}), 401, "invalid-credentials")


async def test_logout__revokes_the_token(api: Api) -> None:
    token = await api.user("erin")
    assert (await api.post("/api/v1/auth/logout", token=token)).status == 200
    assert_problem(await api.get("/api/v1/me", token=token), 401, "invalid-token")


async def test_auth__invalid_tokens_and_schemes(api: Api) -> None:
    assert_problem(await api.get("/api/v1/me"), 401, "authentication-required")
    assert_problem(await api.get("/api/v1/me", token="tsk_nope"), 401, "invalid-token")
    reply = await api.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert_problem(reply, 401, "invalid-authorization")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_admin__only_admins_manage_users(api: Api) -> None:
    user = await api.user("frank")
    for method, path, body in [
        ("GET", "/api/v1/admin/users", None),
        ("POST", "/api/v1/admin/users/frank/freeze", None),
        ("DELETE", "/api/v1/admin/users/frank", None),
        ("POST", "/api/v1/admin/users/frank/token", None),
        ("PUT", "/api/v1/admin/users/frank/roles", {"roles": ["admin"]}),
    ]:
        assert_problem(await api.call(method, path, token=user, json=body), 403, "role-required")
    assert (await User.get(username="frank")).roles == []


async def test_admin__freeze_blocks_writes_but_not_reads(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    user = await api.user("gina", roles=["admin"])
    await api.user("other")
    reply = await api.post("/api/v1/admin/users/gina/freeze", token=admin)
    assert reply.status == 200 and reply.body["status"] == "frozen"
    assert (await api.get("/api/v1/me", token=user)).status == 200
    assert_problem(await api.post("/api/v1/admin/users/other/freeze", token=user), 403, "account-frozen")
    assert (await User.get(username="other")).status == "active"
    reply = await api.post("/api/v1/admin/users/gina/unfreeze", token=admin)
    assert reply.body["status"] == "active"


async def test_admin__delete_revokes_tokens_and_keeps_the_row(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    user = await api.user("hank")
    assert (await api.delete("/api/v1/admin/users/hank", token=admin)).body["status"] == "deleted"
    assert_problem(await api.get("/api/v1/me", token=user), 401)
    assert await User.filter(username="hank").exists()
    assert_problem(await api.post("/api/v1/admin/users/hank/freeze", token=admin), 404, "user-not-found")


async def test_admin__regenerate_token_replaces_the_personal_token(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    old = await api.user("ivy")
    reply = await api.post("/api/v1/admin/users/ivy/token", token=admin)
    assert reply.status == 200
    assert_problem(await api.get("/api/v1/me", token=old), 401)
    assert (await api.get("/api/v1/me", token=reply.body["token"])).body["username"] == "ivy"


async def test_admin__roles_and_listing(api: Api) -> None:
    admin = await api.user("root", roles=["admin"])
    await api.user("jack")
    reply = await api.put("/api/v1/admin/users/jack/roles", {"roles": ["tester", "job-read"]}, token=admin)
    assert reply.body["roles"] == ["job-read", "tester"]
    assert_problem(await api.put("/api/v1/admin/users/jack/roles", {"roles": ["wizard"]}, token=admin), 400)
    assert_problem(await api.put("/api/v1/admin/users/root/roles", {"roles": []}, token=admin), 409, "self-lockout")
    listing = await api.get("/api/v1/admin/users", token=admin, params={"role": "tester"})
    assert [item["username"] for item in listing.body["items"]] == ["jack"]
    assert_problem(await api.get("/api/v1/admin/users", token=admin, params={"page_size": "500"}), 400)


async def test_login__the_password_check_does_not_stop_other_requests(api: Api, monkeypatch: Any) -> None:
    """scrypt takes ~50 ms a check: on the event loop, a burst of sign-ins would stall everyone."""
    await api.user("alice")
    started, release = threading.Event(), threading.Event()
    real_scrypt = hashlib.scrypt

    def held_scrypt(*args: Any, **kwargs: Any) -> bytes:
        started.set()
        release.wait(10)
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", held_scrypt)
    login = asyncio.create_task(api.post("/api/v1/auth/login", {"username": "alice", "password": "correct horse"}))
    try:
        for _ in range(500):  # the login reaches scrypt
            if started.is_set():
                break
            await asyncio.sleep(0.01)
        assert started.is_set(), "the login never checked the password"
        other = await asyncio.wait_for(api.get("/api/v1/types"), timeout=5)  # served while scrypt is held
        assert other.status == 200, other
        assert not login.done()
    finally:
        release.set()
    reply = await login
    assert reply.status == 200 and reply.body["token"], reply
