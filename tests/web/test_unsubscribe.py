"""RFC 8058 one-click unsubscribe, the unsubscribe page, forged tokens, and the ledger honouring it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import SubscriberStatus, history, is_suppressed, transaction
from outreach.audience.schema import ConsentAction, ConsentMethod, Subscriber
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.delivery import ledger
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.tokens import Purpose, make_token
from tests.web.conftest import add_active, csrf_of, make_campaign

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _status(engine: Engine, subscriber_id: int) -> SubscriberStatus:
    with transaction(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        return subscriber.status


def _events(engine: Engine, subscriber_id: int) -> list[tuple[ConsentAction, ConsentMethod]]:
    with transaction(engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        return [(e.action, e.method) for e in history(session, subscriber.email_hash)]


def _url(config: Config, purpose: Purpose, subscriber_id: int | str) -> str:
    prefix = "u" if purpose is Purpose.UNSUBSCRIBE else "p"
    return f"/{prefix}/{make_token(config.secret_key, purpose, str(subscriber_id))}"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_at_once_in_both_encodings(
    encoding: str, client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, Purpose.UNSUBSCRIBE, subscriber_id)
    if encoding == "urlencoded":
        answer = client.post(
            url,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    else:
        request = httpx.Request("POST", "http://x/", data=ONE_CLICK, files={"x": ("x.txt", b"")})
        answer = client.post(
            url, content=request.read(), headers={"content-type": request.headers["content-type"]}
        )
    assert answer.status_code == 200
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    assert _status(engine, subscriber_id) is SubscriberStatus.UNSUBSCRIBED
    assert (ConsentAction.UNSUBSCRIBED, ConsentMethod.ONE_CLICK) in _events(engine, subscriber_id)
    with transaction(engine) as session:
        assert is_suppressed(session, "ben@example.org")


def test_one_click_post_is_idempotent(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, Purpose.UNSUBSCRIBE, subscriber_id)
    first = client.post(url, data=ONE_CLICK)
    after_first = _events(engine, subscriber_id)
    second = client.post(url, data=ONE_CLICK)
    assert first.status_code == second.status_code == 200
    assert first.text == second.text
    assert _events(engine, subscriber_id) == after_first
    assert _status(engine, subscriber_id) is SubscriberStatus.UNSUBSCRIBED


def test_get_never_unsubscribes(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, Purpose.UNSUBSCRIBE, subscriber_id)
    for _ in range(3):
        page = client.get(url)
        assert page.status_code == 200
    assert client.head(url).status_code == 200
    assert _status(engine, subscriber_id) is SubscriberStatus.ACTIVE
    assert f'action="{url}/leave"' in page.text
    assert "/p/" in page.text  # the way to the preferences


def test_a_post_without_the_one_click_body_changes_nothing(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, Purpose.UNSUBSCRIBE, subscriber_id)
    assert client.post(url).status_code == 400
    assert client.post(url, data={"List-Unsubscribe": "yes"}).status_code == 400
    assert client.post(url, json={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert _status(engine, subscriber_id) is SubscriberStatus.ACTIVE


def test_the_button_unsubscribes_with_its_csrf_field_only(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    url = _url(config, Purpose.UNSUBSCRIBE, subscriber_id)
    assert client.post(f"{url}/leave", data={"csrf": "forged"}).status_code == 403
    assert _status(engine, subscriber_id) is SubscriberStatus.ACTIVE
    page = client.get(url)
    done = client.post(f"{url}/leave", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert (ConsentAction.UNSUBSCRIBED, ConsentMethod.FORM) in _events(engine, subscriber_id)
    assert "You're unsubscribed" in client.get(url).text


def test_forged_altered_and_wrong_purpose_tokens_are_refused(
    client: TestClient, config: Config, engine: Engine, clock: FixedClock
) -> None:
    subscriber_id = add_active(engine, clock)
    good = make_token(config.secret_key, Purpose.UNSUBSCRIBE, str(subscriber_id))
    forged = make_token("another-key", Purpose.UNSUBSCRIBE, str(subscriber_id))
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_purpose = make_token(config.secret_key, Purpose.PREFERENCES, str(subscriber_id))
    for token in (forged, altered, other_purpose, "1", "garbage.token"):
        for answer in (client.get(f"/u/{token}"), client.post(f"/u/{token}", data=ONE_CLICK)):
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("text/html")
            assert "Traceback" not in answer.text
    assert client.get(f"/p/{good}").status_code == 404  # an unsubscribe token is no preference token
    assert _status(engine, subscriber_id) is SubscriberStatus.ACTIVE


def test_tokens_carry_no_readable_personal_data(config: Config) -> None:
    token = make_token(config.secret_key, Purpose.UNSUBSCRIBE, "42")
    payload, _, signature = token.partition(".")
    assert payload == "42"  # an opaque database id: no address, no name
    assert len(signature) >= 40  # HMAC-SHA256, URL-safe
    with pytest.raises(ValueError):
        make_token(config.secret_key, Purpose.UNSUBSCRIBE, "ana@example.org")


def test_pending_rows_of_a_running_campaign_are_skipped_from_that_moment(
    client: TestClient,
    config: Config,
    engine: Engine,
    clock: FixedClock,
    write_issue: Callable[..., Path],
) -> None:
    leaving = add_active(engine, clock, "leaving@example.org")
    staying = add_active(engine, clock, "staying@example.org")
    campaign_id = make_campaign(config, engine, clock, write_issue)
    with transaction(engine) as session:
        states = dict(session.execute(sa.select(Delivery.subscriber_id, Delivery.state)).all())
    assert states == {leaving: DeliveryState.PENDING, staying: DeliveryState.PENDING}
    assert client.post(_url(config, Purpose.UNSUBSCRIBE, leaving), data=ONE_CLICK).status_code == 200
    with transaction(engine) as session:
        claimed = ledger.claim(session, campaign_id, 10, clock, "test:1", "vaimh.example", config.secret_key)
    assert [c.subscriber_id for c in claimed] == [staying]
    with transaction(engine) as session:
        row = session.scalars(sa.select(Delivery).where(Delivery.subscriber_id == leaving)).one()
    assert row.state is DeliveryState.SKIPPED
    assert row.reason in ("suppressed", "subscriber is unsubscribed")
