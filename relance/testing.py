"""Test base: TWO organisations, and builders, so that every feature test can assert isolation.

Use `RelanceTestCase` for class-style tests or the pytest fixtures in conftest.py (`world`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import TestCase

from relance.accounts import services as accounts
from relance.accounts.models import Membership, Organisation, Role, User
from relance.audit.services import Actor
from relance.keystore import services as keys

PASSWORD = "correct horse battery staple"


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Still Argon2 (R-64), with test-sized costs: the production costs take ~100 MB and ~0.1 s a hash."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1
SYSTEM = Actor.system("tests")
_counter = itertools.count(1)


def make_org(kind: str = "library", **overrides) -> Organisation:
    n = next(_counter)
    values = {
        "name": f"Organisation {n}",
        "slug": f"org-{n}",
        "kind": kind,
        "dpo_name": f"Dpo Person{n}",
        "dpo_email": f"dpo{n}@example.org",
        "processes_health_data": kind in {"health", "occupational_health", "answering_service"},
    }
    values.update(overrides)
    return accounts.create_organisation(actor=SYSTEM, **values)


def make_user(org: Organisation | None = None, role: str = Role.OPERATOR, **overrides) -> User:
    n = next(_counter)
    values = {"email": f"user{n}@example.org", "password": PASSWORD, "full_name": f"User Number{n}"}
    values.update(overrides)
    user = accounts.create_user(actor=SYSTEM, **values)
    user.test_email = values["email"]
    if org is not None:
        accounts.add_member(org, user, role, actor=SYSTEM)
    return user


def make_site(org: Organisation, **overrides):
    n = next(_counter)
    values = {"name": f"Site {n}", "code": f"site-{n}"}
    values.update(overrides)
    return accounts.create_site(org, actor=SYSTEM, **values)


def make_api_key(org: Organisation, scopes: list[str] | None = None, name: str = "integration"):
    from relance.accounts.permissions import API_SCOPES

    return accounts.create_api_key(org, actor=SYSTEM, name=name, scopes=scopes or list(API_SCOPES))


def make_contact(org: Organisation, **overrides):
    """A contact through the contacts service (signature: relance.contacts.services.create_contact)."""
    from relance.contacts import services as contacts

    n = next(_counter)
    values = {"first_name": f"Prénom{n}", "last_name": f"Nom{n}", "phone": f"+3361234{n % 10000:04d}",
              "email": f"contact{n}@example.org", "language": "fr"}
    values.update(overrides)
    return contacts.create_contact(org, actor=SYSTEM, **values)


def make_membership(org: Organisation, role: str) -> Membership:
    user = make_user(org, role)
    return Membership.objects.for_org(org).get(user=user)


@dataclass
class World:
    """Two organisations A and B with one user per role in each, and an API key each."""

    a: Organisation
    b: Organisation
    users_a: dict[str, User] = field(default_factory=dict)
    users_b: dict[str, User] = field(default_factory=dict)
    key_a: str = ""
    key_b: str = ""


def make_world() -> World:
    world = World(a=make_org("library", name="Médiathèques A"), b=make_org("health", name="Cabinet B"))
    for role in Role.values:
        world.users_a[role] = make_user(world.a, role)
        world.users_b[role] = make_user(world.b, role)
    world.key_a = make_api_key(world.a)[1]
    world.key_b = make_api_key(world.b)[1]
    return world


class RelanceTestCase(TestCase):
    databases = {"default", "keys"}

    @classmethod
    def setUpTestData(cls):
        keys.clear_caches()
        cls.world = make_world()
        cls.org_a, cls.org_b = cls.world.a, cls.world.b

    def setUp(self):
        keys.clear_caches()
