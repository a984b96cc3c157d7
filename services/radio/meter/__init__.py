"""The meter: ECHONET Lite over a joined session.

Owns Get with TID matching and identification (``client``), the property schedule, INF/INFC
announcements and their INFC_Res (``notifications``), the 30-minute history answers
(``history``), counter wrap at 10^D7 (``wraparound``) and the meter's own clock (``clock``).

May import: the link layer (to send and to know a session was lost), ``condition``,
``timing``, ``common``. Nothing from the backfill or bus layers, nor the poller.
"""
