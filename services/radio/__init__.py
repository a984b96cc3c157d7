"""The only process that touches the serial port: joins the meter, polls it, publishes readings.

Layers, bottom up: transport (``sk_reader``, ``transport``) → dialect (``dialect``, ``dongle``)
→ session (``scan``, ``pan_cache``, ``session``, ``connection``) → meter (``meter``,
``schedule``, ``notifications``, ``wraparound``); ``poller`` runs the state machine and is the
one place readings are made.  docs/radio.md has the diagram and the recovery bounds.
"""
