"""The worker's periodic jobs registry (relance.lib.housekeeping)."""

from relance.lib import housekeeping


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_it_runs_a_job_at_once_then_only_after_its_interval(monkeypatch):
    monkeypatch.setattr(housekeeping, "JOBS", {})
    runs = []
    housekeeping.register("purge", lambda: runs.append("purge"), every_seconds=60)
    clock = Clock()
    assert housekeeping.run_due(clock) == ["purge"]
    clock.now += 59
    assert housekeeping.run_due(clock) == []
    clock.now += 2
    assert housekeeping.run_due(clock) == ["purge"]
    assert runs == ["purge", "purge"]


def test_it_keeps_running_the_other_jobs_when_one_fails(monkeypatch, caplog):
    monkeypatch.setattr(housekeeping, "JOBS", {})
    runs = []

    def broken():
        raise RuntimeError("database away")

    housekeeping.register("broken", broken, every_seconds=10)
    housekeeping.register("webhooks", lambda: runs.append("webhooks"), every_seconds=10)
    assert housekeeping.run_due(Clock()) == ["broken", "webhooks"]
    assert runs == ["webhooks"]
    assert "housekeeping job failed" in caplog.text
