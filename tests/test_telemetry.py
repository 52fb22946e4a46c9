"""The local event store: bounded whatever clients send."""


def test_the_event_store_keeps_the_newest_events_up_to_its_bound(tmp_path, monkeypatch):
    from nanocomplete import telemetry
    from nanocomplete.api import Event

    monkeypatch.setattr(telemetry, "MAX_EVENTS", 5)
    store = telemetry.EventStore(tmp_path / "events.sqlite3")
    try:
        store.add([Event(kind="shown", shown_chars=i) for i in range(7)])
        store.add([Event(kind="accepted", accepted_chars=3)] * 2)
        assert store.counts() == {"shown": 3, "accepted": 2}
    finally:
        store.close()
