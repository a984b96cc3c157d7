"""The connection to the broker: one paho client, driven by a thread of ours.

Ours rather than paho's ``loop_start``: paho's own thread retries a failed connect without
saying why, and health must name the cause (``mqtt-unreachable``, ``mqtt-auth-failed``,
``mqtt-tls``, ...).  Here each attempt's outcome is classified, reported, and followed by a
capped, growing wait; nothing in here can exit the process.

paho keeps every QoS 1 message it has not seen a PUBACK for and sends it again after a
reconnect; the stream (stream.py) relies on that within a process, and on the journal across
process restarts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from common.config.sections.mqtt import MqttSettings

log = logging.getLogger("mqtt_publisher.link")

ONLINE, OFFLINE = "online", "offline"
# Test knob (never set on the appliance): a shorter cap, so outage tests need not wait.
BACKOFF_CAP_ENV = "SMARTMETER_MQTT_BACKOFF_CAP"
BACKOFF_FIRST = 1.0
STABLE_AFTER = 30.0  # a connection that lasted this long resets the backoff
AUTH_REASONS = (4, 5, 134, 135)  # 3.1.1 bad user/password, not authorized; 5: 0x86, 0x87


class Waker:
    """A pipe the main loop waits on next to the bus: readable when the link has news."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def fileno(self) -> int:
        return self._r

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # already readable
            os.write(self._w, b"\0")

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._r, 4096):
                pass


class BrokerLink:
    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        will_topic: str,
        subscriptions: tuple[str, ...],
        report: Callable[[str, str], None],
    ) -> None:
        """``report(cause, message)``: each change of the connection's condition."""
        self.settings = settings
        self.will_topic = will_topic
        self.subscriptions = subscriptions
        self.report = report
        self.waker = Waker()
        self.connected = threading.Event()
        self.sessions = 0  # successful CONNACKs so far; the main loop notices a new one
        self.reconnects = 0
        self.messages: list[tuple[str, bytes]] = []  # received, for the main loop
        self.wake_on_ack = False  # the main loop waits for PUBACKs (too much in flight)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refused: ReasonCode | None = None
        self._dropped: ReasonCode | None = None
        self.cap = float(os.environ.get(BACKOFF_CAP_ENV) or 60.0)
        self.client = self._client(client_id)
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        # As under paho's own loop_start: a publish from the main thread only queues the
        # packet and wakes our select; this thread alone writes to the socket (two writers
        # could interleave the bytes of two packets).
        self.client._thread = self._thread

    def _client(self, client_id: str) -> mqtt.Client:
        s = self.settings
        protocol = mqtt.MQTTv5 if s.protocol == "5" else mqtt.MQTTv311
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                        reconnect_on_failure=False)  # fmt: skip
        if s.username:
            c.username_pw_set(s.username, s.password.reveal() if s.password else None)
        if s.tls:
            context = ssl.create_default_context(
                cafile=str(s.tls_ca_file) if s.tls_ca_file else None
            )
            if not s.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            c.tls_set_context(context)
            c.tls_insecure_set(not s.tls_verify)
        c.will_set(self.will_topic, OFFLINE, qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        return c

    # --- paho's callbacks (in our thread) -----------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: ReasonCode,
                    _p: object) -> None:  # fmt: skip
        if reason.is_failure:
            self._refused = reason
            return
        client.publish(self.will_topic, ONLINE, qos=1, retain=True)
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        with self._lock:
            self.sessions += 1
        self.connected.set()
        self.report("ok", f"connected to the MQTT broker at {self.settings.where}")
        self.waker.wake()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: ReasonCode,
                       _p: object) -> None:  # fmt: skip
        self._dropped = reason
        self.connected.clear()
        self.waker.wake()

    def _on_publish(self, *_: object) -> None:
        if self.wake_on_ack:
            self.waker.wake()

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))
        self.waker.wake()

    def take_messages(self) -> list[tuple[str, bytes]]:
        with self._lock:
            out, self.messages = self.messages, []
        return out

    # --- the thread ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self.connected.is_set():
            # A clean goodbye: the broker does not send the last will, so say offline first.
            with contextlib.suppress(Exception):
                self.client.publish(self.will_topic, OFFLINE, qos=1, retain=True).wait_for_publish(
                    2
                )
        self._stop.set()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        wait = BACKOFF_FIRST
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                cause, message = self._session()
            except Exception as exc:  # never a dead thread behind a live process
                log.exception("the MQTT connection failed unexpectedly")
                self.connected.clear()
                cause, message = "mqtt-disconnected", f"unexpected error: {type(exc).__name__}"
            if self._stop.is_set():
                break
            if time.monotonic() - started > STABLE_AFTER:
                wait = BACKOFF_FIRST
            self.reconnects += 1
            self.report(cause, f"{message}; trying again in {wait:.0f} s")
            self._stop.wait(wait)
            wait = min(self.cap, wait * 2)

    def _session(self) -> tuple[str, str]:
        """One connection, from connect to its end: the cause and message of that end."""
        s = self.settings
        self._refused = self._dropped = None
        try:
            self.client.connect(s.host, s.port, keepalive=s.keepalive_seconds)
        except ssl.SSLError as exc:
            return "mqtt-tls", self._tls_message(exc)
        except socket.gaierror as exc:
            return "mqtt-unreachable", f"cannot find the broker's host {s.host!r} ({exc.strerror})"
        except OSError as exc:
            why = exc.strerror or str(exc) or type(exc).__name__
            return "mqtt-unreachable", f"cannot reach the MQTT broker at {s.where} ({why})"
        tick = min(30.0, s.keepalive_seconds / 2)  # select's timeout: pings are due in time
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while not self._stop.is_set() and rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            try:
                rc = self.client.loop(timeout=tick)
            except ssl.SSLError as exc:
                self.connected.clear()
                return "mqtt-tls", self._tls_message(exc)
            except OSError as exc:  # paho raises some socket errors instead of returning
                self.connected.clear()
                return "mqtt-disconnected", f"the connection to {s.where} broke ({exc})"
        was_connected = self.connected.is_set() or self._dropped is not None
        self.connected.clear()
        with contextlib.suppress(Exception):
            self.client.disconnect()  # closes the socket; paho keeps the unacknowledged
        return self._classify(rc, was_connected)

    def _classify(self, rc: MQTTErrorCode, was_connected: bool) -> tuple[str, str]:
        s = self.settings
        if self._refused is not None:
            code, name = self._refused.value, str(self._refused)
            if code in AUTH_REASONS:
                return "mqtt-auth-failed", (
                    f"the MQTT broker at {s.where} refused the login ({name}); check "
                    "MQTT_USERNAME and MQTT_PASSWORD in .env and the broker's users"
                )
            return "mqtt-refused", f"the MQTT broker at {s.where} refused the connection ({name})"
        if was_connected:
            why = str(self._dropped) if self._dropped is not None else mqtt.error_string(rc)
            return (
                "mqtt-disconnected",
                f"the MQTT broker at {s.where} dropped the connection ({why})",
            )
        return "mqtt-unreachable", (
            f"the MQTT broker at {s.where} did not answer the login ({mqtt.error_string(rc)})"
        )

    def _tls_message(self, exc: ssl.SSLError) -> str:
        s = self.settings
        why = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        return (
            f"TLS with the MQTT broker at {s.where} failed ({why}); check mqtt.tls_ca_file "
            "(the CA that signed the broker's certificate), the host name in MQTT_URL, and "
            "that the port speaks TLS (mqtts://) or not (mqtt://)"
        )

    def publish(self, topic: str, payload: str | bytes, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo:  # fmt: skip
        return self.client.publish(topic, payload, qos=qos, retain=retain)
