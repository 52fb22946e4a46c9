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


def test_only_the_newest_events_keep_their_code_when_code_is_stored(tmp_path, monkeypatch):
    import sqlite3

    from nanocomplete import telemetry
    from nanocomplete.api import Event

    monkeypatch.setattr(telemetry, "MAX_EVENTS_WITH_TEXT", 3)
    store = telemetry.EventStore(tmp_path / "events.sqlite3", store_code=True)
    try:
        for i in range(4):
            store.add([Event(kind="accepted", accepted_chars=1, text=f"code {i}.{j}") for j in range(2)])
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "events.sqlite3") as db:
        rows = db.execute("SELECT text FROM events ORDER BY id").fetchall()
    assert [text for (text,) in rows] == [None] * 5 + ["code 2.1", "code 3.0", "code 3.1"]  # all 8 kept
