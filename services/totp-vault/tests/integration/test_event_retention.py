"""The event tables' retention job in a running vault: old rows go, recent ones stay (twofold_common.retention)."""

from __future__ import annotations

import uuid

from twofold_common.testing.waiting import eventually


async def test_published_events_and_handled_ids_are_deleted_once_older_than_their_retention(start_vault) -> None:
    # (ids are kept at least as long as the topics keep records: the topics' retention is lowered with them)
    vault = await start_vault(event_retention_interval_seconds="0.2", outbox_retention_hours="1",
                              processed_events_retention_hours="2", kafka_topic_retention_hours="2")
    old_sent, recent_sent, old_handled, recent_handled = (uuid.uuid4() for _ in range(4))
    await vault.sql(
        "INSERT INTO outbox_events (event_id, event_type, topic, key, payload, headers, created_at, published_at) "
        "VALUES ($1, 'test.v1', 'twofold.test', 'k', '{}', '{}', now() - interval '90 minutes', "
        "        now() - interval '90 minutes'), "
        "       ($2, 'test.v1', 'twofold.test', 'k', '{}', '{}', now() - interval '50 minutes', "
        "        now() - interval '50 minutes')", old_sent, recent_sent)
    await vault.sql(
        "INSERT INTO processed_events (consumer, event_id, event_type, outcome, handled_at) "
        "VALUES ('vault', $1, 'test.v1', 'handled', now() - interval '150 minutes'), "
        "       ('vault', $2, 'test.v1', 'handled', now() - interval '90 minutes')", old_handled, recent_handled)

    async def old_rows_gone() -> bool:
        return not await vault.sql("SELECT 1 FROM outbox_events WHERE event_id = $1 UNION ALL "
                                   "SELECT 1 FROM processed_events WHERE event_id = $2", old_sent, old_handled)

    await eventually(old_rows_gone, timeout=20)
    # the round that deleted them kept what is younger than its retention
    assert [r["event_id"] for r in await vault.sql(
        "SELECT event_id FROM outbox_events WHERE event_id = ANY($1::uuid[])", [old_sent, recent_sent]
    )] == [recent_sent]
    assert [r["event_id"] for r in await vault.sql(
        "SELECT event_id FROM processed_events WHERE event_id = ANY($1::uuid[])",
        [old_handled, recent_handled])] == [recent_handled]
