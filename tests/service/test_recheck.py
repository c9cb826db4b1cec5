"""Re-checks within a share of the budget, oldest first; the scheduler runs passes that must
list after the others."""

from __future__ import annotations

from plane_sync.service.recheck import Rechecks
from plane_sync.service.scheduler import Scheduler


def test_rechecks_stay_within_the_share_however_many_work_items() -> None:
    for items in (10, 300, 1000):
        rechecks = Rechecks(0.10, rate=lambda: 1.0)  # Plane's 60 a minute, 10 %
        intervals = {f"t{n}": 600.0 for n in range(items)}
        for n in range(items):
            rechecks.listed(f"t{n}", float(n) / 1000)
        done = 0
        now = 0.0
        while now < 3600.0 * 3:
            due = rechecks.due(now, intervals)
            for key in due:
                rechecks.listed(key, now)
            done += len(due)
            now += 0.5
        assert done / 3 <= 0.10 * 3600 + 1  # per hour
        if items * 6 <= 0.10 * 3600:  # few items: each once per interval (from 600 s on)
            assert done == items * 17


def test_the_work_item_listed_longest_ago_goes_first() -> None:
    rechecks = Rechecks(0.5, rate=lambda: 2.0)  # a token a second
    for key, when in (("new", 50.0), ("old", 10.0), ("mid", 30.0)):
        rechecks.listed(key, when)
    intervals = dict.fromkeys(("new", "old", "mid"), 5.0)
    order = []
    now = 100.0
    while len(order) < 3:
        for key in rechecks.due(now, intervals):
            order.append(key)
            rechecks.listed(key, now)
        now += 0.25
    assert order == ["old", "mid", "new"]


def test_never_listed_or_recently_listed_targets_are_not_rechecked() -> None:
    rechecks = Rechecks(0.10, rate=lambda: 1.0)
    rechecks.listed("recent", 100.0)
    intervals = {"recent": 600.0, "never": 600.0}
    assert rechecks.due(200.0, intervals) == []
    assert rechecks.next_at(200.0, intervals) == 700.0
    rechecks.forget("recent")
    assert rechecks.next_at(200.0, intervals) is None


def test_next_recheck_waits_for_the_share_to_refill() -> None:
    rechecks = Rechecks(0.10, rate=lambda: 1.0)
    rechecks.listed("a", 0.0)
    rechecks.listed("b", 0.0)
    intervals = {"a": 10.0, "b": 10.0}
    assert rechecks.due(20.0, intervals) == ["a"]
    rechecks.listed("a", 20.0)
    assert rechecks.due(20.0, intervals) == []
    assert rechecks.next_at(20.0, intervals) == 30.0  # one token every 10 s


def test_passes_that_must_list_come_after_the_others() -> None:
    schedule = Scheduler()
    schedule.mark("recheck", 1.0, listing=True)
    schedule.mark("changed", 2.0)
    schedule.mark("later", 9.0)
    assert schedule.due(5.0) == ["changed", "recheck"]
    assert schedule.take("changed") is False
    assert schedule.take("recheck") is True
    schedule.mark("recheck", 1.0)
    assert schedule.take("recheck") is False  # listed once, not again
