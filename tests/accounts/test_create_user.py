from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from cooperation.choices import Classification, Role
from tests.factories import DeskFactory

pytestmark = pytest.mark.django_db


def create_user(*args: str) -> str:
    out = io.StringIO()
    call_command("create_user", *args, stdout=out)
    return out.getvalue()


def test_desk_officer_with_desks_clearance_and_password() -> None:
    DeskFactory(name="Eastern Europe")
    DeskFactory(name="Americas")
    output = create_user(
        "olga", "--role", "desk_officer", "--desk", "Eastern Europe", "--desk", "americas",
        "--clearance", "restricted", "--password", "a-long-enough-passphrase",
    )  # fmt: skip
    user = User.objects.get(username="olga")
    assert user.role == Role.DESK_OFFICER and user.clearance == Classification.RESTRICTED
    assert sorted(desk.name for desk in user.desks.all()) == ["Americas", "Eastern Europe"]
    assert user.check_password("a-long-enough-passphrase")
    assert not user.is_staff
    assert "Password:" not in output


def test_generated_password_is_printed_and_works() -> None:
    output = create_user("mark", "--role", "manager")
    password = output.split("Password: ")[1].strip()
    assert len(password) >= 16
    assert User.objects.get(username="mark").check_password(password)


def test_admin_role_gets_admin_rights() -> None:
    create_user("root2", "--role", "admin", "--password", "a-long-enough-passphrase")
    user = User.objects.get(username="root2")
    assert user.is_staff and user.is_superuser and user.clearance == Classification.RESTRICTED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--role", "desk_officer", "--desk", "Nowhere"], "Unknown desk 'Nowhere'"),
        (["x", "--role", "manager", "--desk", "Eastern Europe"], "Desks apply to desk officers only"),
        (["x", "--role", "manager", "--password", "short"], "This password is too short"),
        (["officer", "--role", "manager"], "already exists"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_created(args: list[str], message: str) -> None:
    DeskFactory(name="Eastern Europe")
    User.objects.create(username="officer")
    before = User.objects.count()
    with pytest.raises(CommandError, match=message):
        create_user(*args)
    assert User.objects.count() == before


def test_unknown_role_is_refused_by_the_parser() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        create_user("x", "--role", "spy")
