"""The SKSTACK IP link: everything between the serial port and a joined PANA session.

Owns the line reader (bytes → lines, EVENTs, ERXUDP read by DATALEN), the transport (one
command in flight, every wait bounded), the dongle's set-up and its dialects, the active scan,
the PAN cache, the PANA session and its send gate, the connection (device path → joined session,
and back after anything), the port lock, and the optional keilog backend.

May import: ``services.radio.condition``, ``services.radio.timing``, ``common``. Nothing from
the meter, backfill or bus layers, nor the poller.
"""
