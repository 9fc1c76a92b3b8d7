"""Contract: the sandbox's clock, Freeze Periods API and incidents, as GitLab documents them
(doc/api/freeze_periods.md, doc/api/issues.md `issue_type`, RFC 9110 `Date`), for the ramp runner (issue 15).

Expectations come from the docs: Reporter reads freeze periods, only Maintainers (and above) write them;
the list is ordered by `created_at`; the entity is id, freeze_start, freeze_end, cron_timezone,
created_at, updated_at; create answers 201, delete 204.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import requests

from gl_rollout.sandbox import Sandbox
from tests.conftest import PlainHTTP

FREEZES = "/projects/acme%2Fplatform%2Frollouts/freeze_periods"
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WEEKEND = {"freeze_start": "0 23 * * 5", "freeze_end": "0 7 * * 1", "cron_timezone": "Europe/Berlin"}


def date_of(headers: dict[str, str]) -> dt.datetime:
    moment = parsedate_to_datetime(headers["Date"])
    assert headers["Date"].endswith(" GMT")  # RFC 9110's IMF-fixdate
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


# --- the clock ---------------------------------------------------------------------------------------


def test_the_date_header_and_every_timestamp_follow_the_moved_clock(sandbox: Sandbox, api: PlainHTTP) -> None:
    before = api("GET", "/version")
    assert abs((date_of(before.headers) - dt.datetime.now(dt.UTC)).total_seconds()) < 120
    moved_to = sandbox.advance_clock(3 * 3600)
    after = api("GET", "/version")
    assert (date_of(after.headers) - date_of(before.headers)).total_seconds() >= 3 * 3600
    assert abs((date_of(after.headers) - moved_to).total_seconds()) < 60
    created = api("POST", "/projects/42/issues", json={"title": "Rollout"})
    stamp = dt.datetime.fromisoformat(created.body["created_at"].replace("Z", "+00:00"))
    assert abs((stamp - date_of(created.headers)).total_seconds()) < 2
    note = api("POST", f"/projects/42/issues/{created.body['iid']}/notes", json={"body": "hi"})
    assert note.body["created_at"] >= created.body["created_at"]
    # errors carry the moved Date too
    assert abs((date_of(api("GET", "/projects/999").headers) - moved_to).total_seconds()) < 60


def test_the_clock_never_goes_back(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="only moves forward"):
        sandbox.advance_clock(-1)


@pytest.fixture
def controlled() -> Iterator[Sandbox]:
    sb = Sandbox(control=True)
    sb.start()
    try:
        yield sb
    finally:
        sb.close()


def test_the_clock_moves_through_the_control_path_with_the_secret(controlled: Sandbox) -> None:
    url = f"{controlled.url}/-/sandbox/clock"
    secret = {"Sandbox-Secret": str(controlled.control_secret)}
    assert requests.post(url, json={"advance_seconds": 60}, timeout=10).status_code == 401
    start = requests.get(url, headers=secret, timeout=10).json()
    assert start["offset_seconds"] == 0
    moved = requests.post(url, json={"advance_seconds": 900}, headers=secret, timeout=10)
    assert moved.status_code == 200
    assert moved.json()["offset_seconds"] == 900
    assert ISO_MS_Z.match(moved.json()["now"])
    assert controlled.now() - dt.datetime.now(dt.UTC) > dt.timedelta(seconds=850)
    for bad in ({"advance_seconds": -5}, {"advance_seconds": "soon"}, {}):
        answer = requests.post(url, json=bad, headers=secret, timeout=10)
        assert answer.status_code == 400, bad
    assert requests.get(url, headers=secret, timeout=10).json()["offset_seconds"] == 900


def test_a_sandbox_file_keeps_its_clock(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "sb.sqlite"
    first = Sandbox(db_path=path)
    first.advance_clock(86400)
    first.close()
    second = Sandbox(db_path=path)
    try:
        assert second.now() - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23)
    finally:
        second.close()


# --- freeze periods ----------------------------------------------------------------------------------


def test_freeze_periods_roles_shape_and_order(sandbox: Sandbox, api: PlainHTTP) -> None:
    assert api("POST", FREEZES, as_="developer", json=WEEKEND).status == 403
    created = api("POST", FREEZES, as_="admin", json=WEEKEND)
    assert created.status == 201
    assert set(created.body) == {
        "id",
        "freeze_start",
        "freeze_end",
        "cron_timezone",
        "created_at",
        "updated_at",
    }
    assert {k: created.body[k] for k in WEEKEND} == WEEKEND
    assert ISO_MS_Z.match(created.body["created_at"])
    second = api("POST", FREEZES, as_="admin", json={"freeze_start": "0 22 * * *", "freeze_end": "0 6 * * *"})
    assert second.body["cron_timezone"] == "UTC"  # the default
    listed = api("GET", FREEZES, as_="reporter")  # Reporter may read
    assert listed.status == 200
    assert [period["id"] for period in listed.body] == [created.body["id"], second.body["id"]]
    assert listed.headers["X-Total"] == "2"
    one = api("GET", f"{FREEZES}/{created.body['id']}", as_="reporter")
    assert one.body == created.body
    assert api("GET", f"{FREEZES}/9999", as_="reporter").status == 404
    assert api("GET", FREEZES, as_=None).status == 404  # the project is private to strangers


def test_freeze_periods_update_delete_and_validation(sandbox: Sandbox, api: PlainHTTP) -> None:
    period = sandbox.add_freeze_period("0 23 * * 5", "0 7 * * 1")
    path = f"{FREEZES}/{period['id']}"
    assert api("PUT", path, as_="developer", json={"freeze_end": "0 9 * * 1"}).status == 403
    sandbox.advance_clock(60)
    updated = api("PUT", path, as_="admin", json={"freeze_end": " 0 9 * * 1 "})
    assert updated.status == 200
    assert updated.body["freeze_end"] == "0 9 * * 1"  # stripped, as the model does
    assert updated.body["freeze_start"] == "0 23 * * 5"
    assert updated.body["updated_at"] > updated.body["created_at"]
    missing = api("POST", FREEZES, as_="admin", json={"freeze_start": "0 23 * * 5"})
    assert (missing.status, missing.body) == (400, {"error": "freeze_end is missing"})
    bad = api(
        "POST",
        FREEZES,
        as_="admin",
        json={**WEEKEND, "freeze_start": "fridays", "cron_timezone": "Mars/Base"},
    )
    assert bad.status == 400
    assert set(bad.body["message"]) == {"freeze_start", "cron_timezone"}
    assert api("PUT", path, as_="admin", json={"cron_timezone": "Nowhere"}).status == 400
    assert api("DELETE", path, as_="developer").status == 403
    assert api("DELETE", path, as_="admin").status == 204
    assert api("GET", path, as_="admin").status == 404
    with pytest.raises(ValueError, match="freeze_start"):
        sandbox.add_freeze_period("never", "0 7 * * 1")


# --- incidents ---------------------------------------------------------------------------------------


def test_incidents_are_issues_of_type_incident_listed_by_filter(sandbox: Sandbox, api: PlainHTTP) -> None:
    sandbox.create_issue(title="Rollout")
    sandbox.add_incident("DB down", ["severity::1"])
    sandbox.add_incident("Old outage", ["severity::2"], closed=True)
    made = api("POST", "/projects/42/issues", json={"title": "Slow pages", "issue_type": "incident"})
    assert made.body["issue_type"] == "incident"
    assert made.body["type"] == "INCIDENT"
    listed = api("GET", "/projects/42/issues", params={"issue_type": "incident", "state": "opened"})
    assert sorted(issue["title"] for issue in listed.body) == ["DB down", "Slow pages"]
    labelled = api(
        "GET",
        "/projects/42/issues",
        params={"issue_type": "incident", "state": "opened", "labels": "severity::1"},
    )
    assert [issue["labels"] for issue in labelled.body] == [["severity::1"]]
    assert api("GET", "/projects/42/issues", params={"issue_type": "outage"}).status == 400
