"""Scheduling: issues that go out on time, once, across restarts; automations; the send window.

APScheduler 3 only wakes things up. What was sent, and to whom, is decided by the database: a
campaign moves from ``scheduled`` to ``sending`` in one conditional UPDATE (whoever wins sends), and
the delivery ledger's unique ``(campaign, subscriber)`` makes every send at most once. A lease row keeps
a single active scheduler per database. See docs/scheduling.md.
"""
