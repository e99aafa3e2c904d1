"""R-63 for the settings area alone (tests/test_isolation.py covers every route; this one keeps the
area's routes checked on their own): every route of the area with an object id answers 404 to an
administrator of organisation A for organisation B's object, whatever the method, and serves A's own."""

import pytest

from tests.test_isolation import BUILDERS, METHODS, Surfaces, all_routes, fill, params

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
AREA = ("app/providers/", "app/webhooks/", "app/imports/", "app/sending-settings/")


def test_the_settings_routes_answer_404_for_another_organisations_objects(client, world):
    surfaces = Surfaces(client, world)
    routes = [route for route in all_routes() if route.startswith(AREA) and params(route)]
    assert len(routes) == 8, routes
    names = {name for route in routes for name in params(route)}
    objects_b = {name: BUILDERS[name](world.b) for name in names}
    objects_a = {name: BUILDERS[name](world.a) for name in names}
    for route in routes:
        foreign, own = fill(route, objects_b), fill(route, objects_a)
        answers = {method: surfaces.call(method, foreign).status_code for method in METHODS}
        assert set(answers.values()) == {404}, (route, answers)
        assert surfaces.call("get", own).status_code in (200, 302), route
