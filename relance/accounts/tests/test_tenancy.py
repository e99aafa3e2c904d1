"""R-63: tenant-scoped managers make an unscoped query on tenant data impossible to write by accident."""

import pytest

from relance.accounts.models import ApiKey, Membership, Site
from relance.accounts.tenancy import TenantModel, UnscopedTenantQuery
from relance.testing import make_api_key, make_site

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _tenant_models():
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, TenantModel)]


def test_it_refuses_every_unscoped_read_and_write(world):
    """R-63: evaluating, counting, updating or deleting without a scope raises."""
    make_site(world.a)
    for run in (list, lambda qs: qs.count(), lambda qs: qs.exists(), lambda qs: qs.update(name="x"),
                lambda qs: qs.delete(), lambda qs: list(qs.iterator()), lambda qs: qs.first(),
                lambda qs: qs.get(code="nope")):
        with pytest.raises(UnscopedTenantQuery):
            run(Site.objects.all())


def test_it_returns_only_the_organisations_rows(world):
    """R-63: .for_org() scopes to one organisation."""
    site_a, site_b = make_site(world.a), make_site(world.b)
    assert list(Site.objects.for_org(world.a)) == [site_a]
    assert not Site.objects.for_org(world.a).filter(pk=site_b.pk).exists()


def test_it_treats_a_filter_on_the_tenant_field_as_a_scope(world):
    """R-63: filtering on organisation is a scope too (so related managers work)."""
    site = make_site(world.a)
    assert Site.objects.filter(organisation=world.a, pk=site.pk).get() == site


def test_it_lets_a_user_list_their_own_memberships(world):
    """A user's memberships across organisations are scoped by the user."""
    user = world.users_a["operator"]
    assert [m.organisation for m in user.memberships.all()] == [world.a]
    assert Membership.objects.filter(user=user).count() == 1


def test_it_gives_every_tenant_model_both_managers():
    """R-63: every tenant-owned model has the refusing default manager and an explicit `unscoped` one."""
    models = _tenant_models()
    assert {Site, Membership, ApiKey} <= set(models)
    for model in models:
        with pytest.raises(UnscopedTenantQuery):
            model.objects.count()
        assert model.unscoped.model is model


def test_it_keeps_the_unscoped_door_explicit(world):
    """The platform-wide manager is named, so every use is easy to review."""
    make_api_key(world.a)
    assert ApiKey.unscoped.count() >= 3
