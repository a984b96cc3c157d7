"""The backfill: half-hours of EA/EB missed during an outage, read back from the meter's history.

Owns the slot ledger (which half-hours have a reading, ``$DATA/radio-slots.json``), the plan and
pacer (what to read next, never near the meter's midnight), the runner (reads between polls),
the ledger checks after a restart or power cut, and ``smartmeterctl backfill``'s request file.

May import: the meter and link layers, the bus side (the journal tells what got in),
``condition``, ``timing``, ``common``. Not the poller.
"""
