from datetime import UTC, datetime

import pytest
import time_machine

# A Tuesday, 10:00 in Paris: inside every default sending window, so that reminder tests do
# not depend on the hour they run at.
TUESDAY_MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def daytime():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller
