"""The privacy jobs are registered for the worker's housekeeping round."""

import pytest

from relance.lib import housekeeping
from relance.privacy import jobs


def test_it_registers_the_purge_webhooks_keys_and_codes_jobs(monkeypatch):
    monkeypatch.setattr(housekeeping, "JOBS", {})
    jobs.register_all()
    assert set(housekeeping.JOBS) == {"privacy.scheduled_purge", "webhooks.deliver", "privacy.destroy_leftover_keys",
                                      "privacy.purge_codes"}
    assert housekeeping.JOBS["webhooks.deliver"].every_seconds <= 30


@pytest.mark.django_db(databases=["default", "keys"])
def test_it_runs_every_job_from_the_worker_round_without_error(monkeypatch, caplog):
    from relance.messaging.worker import Worker

    monkeypatch.setattr(housekeeping, "JOBS", {})
    jobs.register_all()
    worker = Worker(name="jobs-test")
    try:
        worker.housekeeping()
    finally:
        worker.close()
    assert "housekeeping job failed" not in caplog.text
    assert all(job.last_run for job in housekeeping.JOBS.values())
