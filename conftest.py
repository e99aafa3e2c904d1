"""Shared pytest fixtures. Every test that touches data uses both databases (main + key store)."""

import os

import pytest

from relance.keystore import services as keys

IN_CI = os.environ.get("CI", "").lower() == "true"

# The `ui` fixture of the browser journeys (Playwright driving Debian's chromium).
pytest_plugins = ["relance.testing_browser"]


def pytest_configure(config):
    from django.conf import settings

    # Argon2 with test-sized costs (relance.testing); production keeps Django's costs.
    settings.PASSWORD_HASHERS = ["relance.testing.FastArgon2PasswordHasher"]
    # Tests send through the in-memory providers (relance/providers/locmem.py), never the console.
    settings.RELANCE_SMS_PROVIDER = "locmem"
    settings.RELANCE_EMAIL_PROVIDER = "locmem"
    settings.RELANCE_DEMO = False


# Fixtures that reach a database: a test with none of them (and no django_db or postgres marker) cannot
# touch one, so the PostgreSQL pass of `make test` leaves it to the SQLite pass (it would run the same
# code twice). RELANCE_TEST_EVERYTHING=1 runs them on PostgreSQL too.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                     "db_both", "live_server"}


def pytest_collection_modifyitems(config, items):
    if os.environ.get("RELANCE_TEST_DATABASE") != "postgres" or os.environ.get("RELANCE_TEST_EVERYTHING"):
        return
    kept, once = [], []
    for item in items:
        touches = (item.get_closest_marker("django_db") or item.get_closest_marker("postgres")
                   or DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())))
        (kept if touches else once).append(item)
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = kept


def pytest_report_header(config):
    from django.conf import settings

    engines = {alias: db["ENGINE"].rsplit(".", 1)[-1] for alias, db in settings.DATABASES.items()}
    return f"relance databases: {engines}; CI={IN_CI}"


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    keys.clear_caches()
    yield
    keys.clear_caches()


@pytest.fixture(autouse=True)
def _empty_locmem_provider():
    from relance.providers.locmem import LocmemProvider

    LocmemProvider.reset()
    yield
    LocmemProvider.reset()


@pytest.fixture(autouse=True)
def _no_housekeeping_jobs(monkeypatch):
    """The worker's periodic jobs (daily purge, webhook deliveries...) stay out of tests that run
    the worker for other reasons; their own tests call them directly or register them."""
    from relance.lib import housekeeping

    monkeypatch.setattr(housekeeping, "JOBS", {})


@pytest.fixture
def db_both(django_db_blocker, request):
    """Like `db`, on the main database and the key store."""
    marker = pytest.mark.django_db(databases=["default", "keys"])
    request.applymarker(marker)
    return request.getfixturevalue("db")


@pytest.fixture
def world(db_both):
    from relance.testing import make_world

    return make_world()


def needs(service: str, available: bool, why: str):
    """Skip outside CI with a printed reason; fail in CI, where the service is mandatory."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{service} is mandatory with CI=true: {why}")
    pytest.skip(f"{service} unavailable: {why}")
