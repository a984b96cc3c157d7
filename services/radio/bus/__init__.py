"""The radio's side of the reading bus: the journal and the broadcaster.

Owns the SQLite journal (seq-numbered readings, epoch, retention) and the broadcaster thread
(PUB of readings and heartbeats, ROUTER replay of everything after a seq). The subscriber side
lives in ``common.bus``.

May import: ``condition``, ``timing``, ``common``. Nothing from the link, meter or backfill
layers, nor the poller.
"""
