"""A backup or rotation schedule that is valid cron but can never fire is refused with why: the
CronJob controller accepts `0 0 31 2 *` and then never runs a Job (no backups, no alert for a day)."""

from __future__ import annotations

import pytest

from bot_runtime.contract.formats import check_cron, cron_never_fires
from botfleet_operator.api import SpecError, TradingBot


@pytest.mark.parametrize("schedule", [
    "0 0 31 2 *", "0 0 30 FEB *", "0 0 30-31 feb ?", "0 0 31 4,6,9,11 *", "0 0 31 APR-JUN/2 *",
])
def test_a_day_none_of_its_months_has_never_fires(schedule: str) -> None:
    why = cron_never_fires(schedule)
    assert why is not None and "never fires" in why and "February has 29 days at most" in why
    with pytest.raises(ValueError, match="never fires"):
        check_cron(schedule)


@pytest.mark.parametrize("schedule", [
    "0 0 29 2 *",        # leap years
    "0 0 31 4,5 *",      # May has a 31st
    "0 0 31 */2 *",      # January, March...
    "0 0 31 2/2 *",      # ... August
    "0 0 31 2 MON",      # both day fields restricted: either one fires (robfig/cron)
    "0 0 31 2 */2",      # a stepped '*' is no star for robfig
    "0 */6 * * *", "@daily", "0 3 1 * *",
])
def test_schedules_that_fire_are_accepted(schedule: str) -> None:
    assert cron_never_fires(schedule) is None
    assert check_cron(schedule) == schedule


def test_the_operator_reports_the_field_of_a_schedule_that_never_fires() -> None:
    body = {"apiVersion": "botfleet.io/v1alpha1", "kind": "TradingBot",
            "metadata": {"name": "b1", "namespace": "ns", "uid": "u", "generation": 1},
            "spec": {"strategy": "arbhunter", "backup": {"schedule": "0 0 31 2 *"}}}
    with pytest.raises(SpecError, match=r"spec\.backup\.schedule: .*'0 0 31 2 \*' never fires"):
        TradingBot.parse(body)
