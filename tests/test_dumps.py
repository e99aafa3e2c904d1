"""R-60/R-61: after the demo data is loaded, a dump of both databases holds none of its clear
personal values (names, e-mails, phone numbers), whatever the database engine."""

import pytest

from relance.ops.demo import DEMO_PERSONAL_VALUES, load_demo
from tests.dumps import dump_database, leaks


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_leaves_no_clear_personal_value_in_either_database_dump():
    load_demo()
    main, keys = dump_database("default"), dump_database("keys")
    assert "organisation.created" in main and "scopekey" in keys.lower()  # the dumps hold real rows
    assert leaks(main, DEMO_PERSONAL_VALUES) == []
    assert leaks(keys, DEMO_PERSONAL_VALUES) == []


@pytest.mark.django_db(transaction=True, databases=["default", "keys"])
def test_it_would_notice_a_clear_value(django_db_blocker):
    """The scan itself works: a value written in clear is found (so the test above can fail)."""
    from django.db import connection

    load_demo()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_site SET address = %s WHERE id = (SELECT MIN(id) FROM accounts_site)",
                       [DEMO_PERSONAL_VALUES[0]])
    assert leaks(dump_database("default"), DEMO_PERSONAL_VALUES) == [DEMO_PERSONAL_VALUES[0]]
