"""The scheduler lease with an injected clock: acquire, renew, expire, take over, release."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from outreach.clock import FixedClock
from outreach.scheduling.lease import Lease


def test_only_one_holder_until_the_lease_expires(engine: Engine, clock: FixedClock) -> None:
    first = Lease(engine, clock, seconds=10, holder="first")
    second = Lease(engine, clock, seconds=10, holder="second")
    assert first.acquire()
    assert not second.acquire()
    state = second.current()
    assert state is not None and state.holder == "first"
    clock.advance(6)
    assert first.renew()  # renewing moves the expiry: 6 + 10 s from the start
    clock.advance(6)
    assert not second.acquire()
    assert first.held()
    clock.advance(10.5)  # the first one stopped renewing (killed): its lease lapses
    assert not first.held()
    assert second.acquire()
    assert not first.renew(), "a holder whose lease was taken must learn it on its next renewal"
    assert not first.held()


def test_release_hands_over_at_once(engine: Engine, clock: FixedClock) -> None:
    first = Lease(engine, clock, seconds=60, holder="first")
    second = Lease(engine, clock, seconds=60, holder="second")
    assert first.acquire()
    first.release()
    assert second.acquire()
    assert not first.acquire()


def test_reacquiring_an_own_lease_is_a_renewal(engine: Engine, clock: FixedClock) -> None:
    lease = Lease(engine, clock, seconds=5, holder="me")
    assert lease.acquire() and lease.acquire()
    clock.advance(4)
    assert lease.renew()
    clock.advance(4)
    assert lease.held()


def test_a_lapsed_but_untaken_lease_is_renewed(engine: Engine, clock: FixedClock) -> None:
    lease = Lease(engine, clock, seconds=5, holder="me")
    assert lease.acquire()
    clock.advance(30)
    assert lease.renew()
