import pytest
import time_machine

from relance.messaging.tests.helpers import TUESDAY_MORNING


@pytest.fixture
def daytime():
    """Tuesday 10:00 in Paris: inside every default sending window (R-22)."""
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller
