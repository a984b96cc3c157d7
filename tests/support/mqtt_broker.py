"""A real Debian mosquitto for the MQTT tests, and clients that look at it as others would.

:class:`Broker` runs ``mosquitto`` on a free loopback port (anonymous, with a password file,
or TLS with a certificate made here by ``openssl``), with persistence so that a clean
restart keeps retained messages and queued sessions, as a home broker does.
:class:`Watcher` is a subscriber: everything retained (what Home Assistant reads at start)
and everything streamed, in arrival order.
"""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.stack import free_port, wait_for

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def make_certificates(where: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for localhost/127.0.0.1: (ca.crt, server.crt, .key)."""
    where.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (where / n for n in ("ca.key", "ca.crt", "server.key",
                                                     "server.csr", "server.crt"))  # fmt: skip
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test CA")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    ext = where / "san.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)  # fmt: skip
    key.chmod(0o644)  # mosquitto may drop to another user
    return ca, crt, key


@dataclass
class Broker:
    root: Path
    users: dict[str, str] = field(default_factory=dict)  # empty: anonymous
    tls: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    ca: Path | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _conf(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Started as root, mosquitto drops to the user "mosquitto", which cannot write
            # the test's directory: stay who we are.
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {self.root}/",
            "autosave_interval 1",
            f"log_dest file {self.root / 'mosquitto.log'}",
            "log_type all",
            "max_queued_messages 100000",
        ]
        if self.users:
            pw = self.root / "passwords"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True,
                               capture_output=True)  # fmt: skip
            pw.chmod(0o644)
            lines += [f"password_file {pw}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            ca, crt, key = make_certificates(self.root / "tls")
            self.ca = ca
            lines += [f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"]
        conf = self.root / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Broker:
        # Never skipped silently: a machine without it fails, saying what to install.
        assert Path(MOSQUITTO).exists(), (
            "mosquitto is not installed: scripts/packages/install suite "
            "(or apt-get install mosquitto)"
        )
        conf = self._conf()
        err = open(self.root / "mosquitto.err", "a")  # noqa: SIM115 - the broker's, until it stops
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=err)  # fmt: skip
        wait_for(self._listening, 10, f"mosquitto on port {self.port}")
        return self

    def _listening(self) -> bool:
        import socket

        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Watcher:
    """A subscriber on ``topics``: the latest message of each topic (retained ones included)
    and every message of the stream topic, in order.  ``persistent``: a session the broker
    keeps (QoS 1 messages queued while it is away, as Telegraf's mqtt_consumer would)."""

    def __init__(
        self, broker: Broker, topics: list[str], client_id: str = "", persistent: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.broker = broker
        self.topics = topics
        self.lock = threading.Lock()
        self.latest: dict[str, bytes] = {}
        self.retained: dict[str, bytes] = {}
        self.log: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not persistent)  # fmt: skip
        if auth:
            self.client.username_pw_set(*auth)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.ca))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        for t in self.topics:
            client.subscribe(t, qos=1)
        self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.latest[m.topic] = bytes(m.payload)
            if m.retain:
                self.retained[m.topic] = bytes(m.payload)
            self.log.append((m.topic, bytes(m.payload)))

    def start(self) -> Watcher:
        self.client.connect("127.0.0.1", self.broker.port)
        self.client.loop_start()
        wait_for(self.connected.is_set, 10, "the watcher's connection")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def value(self, topic: str) -> bytes | None:
        with self.lock:
            return self.latest.get(topic)

    def messages(self, topic: str) -> list[bytes]:
        with self.lock:
            return [p for t, p in self.log if t == topic]

    def json(self, topic: str) -> dict | None:
        raw = self.value(topic)
        return json.loads(raw) if raw else None


def retained_snapshot(broker: Broker, pattern: str, settle: float = 1.0,
                      auth: tuple[str, str] | None = None) -> dict[str, bytes]:  # fmt: skip
    """What a client that connects now receives as retained under ``pattern`` (as Home
    Assistant does when it starts)."""
    w = Watcher(broker, [pattern], auth=auth).start()
    time.sleep(settle)
    w.stop()
    return dict(w.retained)
