"""The only process that touches the serial port: joins the meter, polls it, publishes readings.

Layers, bottom up: ``transport`` (SKSTACK IP lines and datagrams) → ``dialect`` (what differs
between dongle models) → ``session`` (scan, PANA join) → ``meter`` (ECHONET Lite Get and
decoding) → ``poller`` (the schedule and the recovery loop).
"""
