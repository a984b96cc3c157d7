"""The only process that touches the serial port: joins the meter, polls it, publishes readings.

Layers, each a sub-package, bottom up (each may import only the ones below it; the test
tests/radio/test_radio_layers.py walks the imports and fails on one that goes up):

- ``condition`` and ``timing``: the ground every layer stands on (named causes for health;
  every wait and backoff in one place).
- ``link``: the SKSTACK IP link (line reader, transport, dongle set-up and dialects, scan,
  PAN cache, PANA session, connection, port lock, the optional keilog backend).
- ``bus``: the journal and the broadcaster (the radio's side of the reading bus).
- ``meter``: ECHONET Lite Get/TID, the schedule, INF/INFC, history answers, counter wrap,
  the meter's clock.
- ``backfill``: the slot ledger, the plan and pacer, the runner, the ledger checks, the
  request file of ``smartmeterctl backfill``.
- ``poller`` and ``__main__`` on top: the loop that ties them and the one place readings are
  made.  docs/radio.md has the diagram and the recovery bounds.
"""
