"""The reading stream is at-least-once through broker restarts and publisher kills.

DESIGN.md, mqtt_publisher: the subscriber's cursor moves only after the broker's PUBACK, so
a broker restart or a kill loses nothing the journal still holds.  The real stack polls the
simulated meter every 0.3 s and publishes to a real mosquitto (persistence on, as a home
broker runs); a subscriber with a persistent session (as Telegraf's mqtt_consumer or
Node-RED keeps one) records the stream.  In a loop: the broker stopped, the publisher
SIGKILLed meanwhile, the broker started; the publisher SIGKILLed mid-stream, the broker
restarted; the broker hanging (SIGSTOP: the network silent, nothing acknowledged), the
publisher SIGKILLed, the broker SIGKILLed and started.  Then, with the radio stopped:

- every reading of the radio's journal arrived on the stream at least once, with its value
  and time; duplicates are counted (and reported), none is missing, nothing else arrived;
- the retained states end on the newest reading of each property, and no backfilled
  reading ever became a state;
- /health names the broker's absence while it lasts (``warn``, never ``fail``).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest

from tests.support.fault_stack import FaultStack, counts
from tests.support.mqtt_broker import Broker, Watcher, retained_snapshot
from tests.support.stack import wait_for

pytestmark = pytest.mark.e2e

BASE = "smartmeter/smartmeter"
STATE_OF = {("E7", ""): "power", ("E0", ""): "energy_import", ("E3", ""): "energy_export"}


@pytest.mark.parametrize("rounds", counts(3, 21))
def test_every_journaled_reading_reaches_the_stream_through_restarts_and_kills(tmp_path, rounds):
    broker = Broker(tmp_path / "broker").start()
    stack = FaultStack(
        tmp_path / "s",
        settings={
            "acquisition": {"interval_seconds": 0.3, "properties": ["E7", "E0", "E3"]},
            "storage": {"flush_interval_seconds": 1},
            "mqtt": {"enabled": True},
        },
        env_values={"MQTT_URL": broker.url},
        extra_env={"SMARTMETER_MQTT_BACKOFF_CAP": "1"},
    )
    stream = Watcher(broker, [f"{BASE}/readings"], client_id="stream-recorder",
                     persistent=True).start()  # fmt: skip
    causes: set[str] = set()
    levels: set[str] = set()
    try:
        stack.start()
        stack.wait_all_running()
        wait_for(lambda: len(stream.messages(f"{BASE}/readings")) > 20, 60, "the stream")
        for i in range(rounds):
            if i % 3 == 0:
                broker.stop()
                stream.connected.clear()
                time.sleep(1.5)
                pid = stack.kill("mqtt_publisher", signal.SIGKILL)  # while it cannot publish
                stack.wait_running("mqtt_publisher", not_pid=pid, timeout=30)

                def named() -> bool:
                    check = stack.check("mqtt:delivery")
                    causes.add(str(check.get("cause")))
                    levels.add(str(check.get("status")))
                    return check.get("cause") == "mqtt-unreachable"

                wait_for(named, 30, "mqtt-unreachable in /health")
                broker.start()
            elif i % 3 == 1:
                time.sleep(1.5)
                pid = stack.kill("mqtt_publisher", signal.SIGKILL)  # mid-stream
                broker.stop()
                time.sleep(1.0)
                broker.start()
                stack.wait_running("mqtt_publisher", not_pid=pid, timeout=30)
            else:
                # The network goes silent (the broker hangs): the publisher keeps sending
                # and gets no PUBACK; killed now, only its cursor says where to resume.
                assert broker.proc is not None
                broker.proc.send_signal(signal.SIGSTOP)
                time.sleep(2.0)
                pid = stack.kill("mqtt_publisher", signal.SIGKILL)
                broker.stop(signal.SIGKILL)  # what it had not read is gone with it
                broker.start()
                stack.wait_running("mqtt_publisher", not_pid=pid, timeout=30)
            wait_for(stream.connected.is_set, 30, "the recorder back on the broker")
            time.sleep(2.0)
        stack.rpc().stopProcess("radio")
        journal = [r for r in stack.journal() if r.epc in ("E7", "E0", "E3", "EA", "EB")]
        want = {r.seq for r in journal}

        def received() -> Counter:
            return Counter(json.loads(m)["seq"] for m in stream.messages(f"{BASE}/readings"))

        try:
            wait_for(lambda: want <= set(received()), 60, "every journaled reading on the stream")
        except AssertionError:
            missing = sorted(want - set(received()))
            print("MISSING", missing[:50], len(missing), "of", len(want))
            print(stack.log("mqtt_publisher")[-6000:])
            raise
        got = received()
        assert set(got) == want, "nothing but the journal's readings"
        by_seq = {r.seq: r for r in journal}
        for raw in stream.messages(f"{BASE}/readings"):
            m = json.loads(raw)
            r = by_seq[m["seq"]]
            assert (m["ts"], m["epc"], m["dataid"], m["source"]) == (r.ts, r.epc, r.dataid,
                                                                     r.source)  # fmt: skip
            assert m["value"] == pytest.approx(r.value)
            assert m["unit"] == {"E7": "W"}.get(r.epc, "kWh")
        duplicates = sum(n - 1 for n in got.values())
        print(f"{len(want)} readings, {duplicates} duplicates over {rounds} rounds")

        newest = {}
        for r in journal:
            if (r.epc, r.dataid) in STATE_OF and r.source != "backfill":
                newest[STATE_OF[r.epc, r.dataid]] = r.value

        def states_are_newest() -> bool:
            state = retained_snapshot(broker, f"{BASE}/state/#", settle=0.5)
            return all(
                float(state.get(f"{BASE}/state/{k}", b"nan")) == pytest.approx(v)
                for k, v in newest.items()
            )

        wait_for(states_are_newest, 30, "the retained states on the newest readings")
        assert "mqtt-unreachable" in causes
        assert levels <= {"warn", "pass", "None"}, "the broker's absence is a warning"
        assert stack.check("mqtt:delivery").get("cause") == "ok"
    finally:
        stack.stop()
        stream.stop()
        broker.stop()
