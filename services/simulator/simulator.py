"""The whole simulated installation: pty, dongle, PANA, meter, clock, faults, control socket.

Wiring and the control commands live here; each part's behaviour lives in its own module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.simulator.control import ControlServer
from services.simulator.dialects import DongleDialect
from services.simulator.dongle import SkStackDongle
from services.simulator.dongle_memory import SETTINGS as MEMORY_SETTINGS
from services.simulator.dongle_memory import DongleMemory
from services.simulator.faults import ACTIONS, Faults
from services.simulator.loop import Loop, Timer
from services.simulator.meter import SimulatedMeter
from services.simulator.meter_model import EnergyModel, MeterClock, PowerCurve, Register
from services.simulator.notifications import MODES, Notifier
from services.simulator.pana import Pana, Timing
from services.simulator.pans import RadioEnvironment
from services.simulator.properties import MeterProperties
from services.simulator.pty_link import PtyLink
from services.simulator.served_log import ServedLog
from services.simulator.sk_output import SkOutput

log = logging.getLogger("simulator")

DONGLE_MAC = "001D129012ABCDEF"


@dataclass
class Options:
    link: Path
    dialect: DongleDialect
    rbid: str | None = None
    password: str | None = None
    served_log: Path | None = None
    control: Path | None = None
    seed: int = 1
    timing: Timing = field(default_factory=Timing)
    start: datetime | None = None
    time_scale: float = 1.0
    session_lifetime: float = 86400.0  # meter seconds
    notify: str = "inf"
    notify_delay: float | None = None
    unit_kwh: Decimal = Decimal("0.1")
    coefficient: int = 1
    digits: int = 6
    import_kwh: float = 12345.6
    export_kwh: float = 4321.0
    single_phase: bool = False
    second_generation: bool = False  # a Release R meter: C0, D0, EE/EF (else Get_SNA)
    solar: bool = True
    faults: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    memory: DongleMemory = field(default_factory=DongleMemory)


class Simulator:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.loop = Loop()
        self.faults = Faults()
        self.clock = MeterClock(opts.start, opts.time_scale)
        model = EnergyModel(PowerCurve(opts.seed, opts.solar), self.clock.start,
                            opts.import_kwh, opts.export_kwh)  # fmt: skip
        register = Register(opts.unit_kwh, opts.coefficient, opts.digits)
        self.served_log = ServedLog(opts.served_log)
        props = MeterProperties(model, register, self.clock, self.faults, opts.single_phase,
                                opts.second_generation)  # fmt: skip
        self.model = model
        self.meter = SimulatedMeter(props, self.served_log, self.clock)
        self.env = RadioEnvironment(opts.rbid[-8:] if opts.rbid else None, opts.seed)
        self.link = PtyLink(opts.link, self.loop, self._input)
        self.out = SkOutput(opts.dialect, self.link.write, self.loop.call_later, self.faults,
                            DONGLE_MAC, opts.seed)  # fmt: skip
        self.pana = Pana(self.out, self.env, self.meter, self.faults, self.clock, opts.timing,
                         opts.session_lifetime, credentials_ok=lambda: False)  # fmt: skip
        self.dongle = SkStackDongle(self.out, self.pana, self.env, self.faults,
                                    opts.rbid, opts.password, opts.memory)  # fmt: skip
        self.pana.credentials_ok = self.dongle.credentials_ok
        self.notifier = Notifier(self.meter, self.pana, self.clock, opts.notify,
                                 opts.notify_delay, opts.seed)  # fmt: skip
        self.loop.every_tick(self.pana.tick)
        self.loop.every_tick(self.notifier.tick)
        self._timers: dict[str, Timer] = {}
        self.faults.watch("unplug", self._unplug)
        self.faults.watch("tx-limit", self._tx_limit)
        self.control = ControlServer(opts.control, self.loop, self.handle) if opts.control else None
        for name, params in opts.faults:
            self.faults.set(name, True, **params)

    def _input(self, data: bytes) -> None:
        self.dongle.feed(data)

    def run(self, stop: Any) -> None:
        self.loop.run(stop)

    def close(self) -> None:
        if self.control:
            self.control.close()
        self.link.close()
        self.served_log.close()

    # --- fault side effects -------------------------------------------------------------
    def _switch_off_later(self, name: str, seconds: float | None) -> None:
        old = self._timers.pop(name, None)
        if old:
            old.cancel()
        if seconds is not None:
            self._timers[name] = self.loop.call_later(
                float(seconds), lambda: self.faults.set(name, False)
            )

    def _unplug(self, on: bool, params: dict[str, Any]) -> None:
        if on:
            self.out.power(False)
            self.dongle.reader.clear()
            self.pana.session = None
            self.link.unplug()
            self._switch_off_later("unplug", params.get("seconds"))
        else:
            self._switch_off_later("unplug", None)
            self.link.plug()
            self.out.power(True)
            self.dongle.power_on()  # registers back to factory; WOPT as --wopt-memory says

    def _tx_limit(self, on: bool, params: dict[str, Any]) -> None:
        self.out.event(0x32 if on else 0x33, self.out.ip)
        self._switch_off_later("tx-limit", params.get("seconds") if on else None)

    # --- control ----------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        request = dict(request)
        if "fault" in request:
            name = request.pop("fault")
            self.faults.set(name, bool(request.pop("on", True)), **request)
            return {"faults": self.faults.snapshot()}
        if "do" in request:
            return self._action(request.pop("do"), request)
        if "set" in request:
            return self._settings(request["set"])
        if request.get("get") == "status":
            return {"status": self.status()}
        raise ValueError("a request has one of: fault, do, set, get")

    def _action(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name not in ACTIONS:
            raise ValueError(f"unknown action {name!r}; known: {', '.join(sorted(ACTIONS))}")
        if name == "reauth":
            if not self.pana.reauthenticate(ok=params.get("result", "ok") == "ok"):
                raise ValueError("no PANA session to re-authenticate")
        elif name == "peer-term":
            if not self.pana.peer_terminates():
                raise ValueError("no PANA session to terminate")
        elif name == "replace-meter":
            pan = self.env.replace_meter()
            return {"meter": {"mac": pan.mac, "ip": pan.ip, "channel": pan.channel,
                              "pan_id": pan.pan_id}}  # fmt: skip
        elif name == "notify":
            esv = MODES.get(params.get("esv", self.notifier.mode))
            return {"sent": self.notifier.send(esv)}
        return {}

    def _settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        for key, value in settings.items():
            if key == "notify":
                self.notifier.set_mode(value)
            elif key == "notify_delay":
                self.notifier.delay = None if value is None else float(value)
            elif key == "session_lifetime":
                self.pana.lifetime = float(value)
            elif key in MEMORY_SETTINGS:
                self.dongle.memory = self.dongle.memory.with_settings(**{key: value})
            else:
                raise ValueError(f"unknown setting {key!r}")
        return {}

    def status(self) -> dict[str, Any]:
        s = self.pana.session
        now = self.clock.now()
        imp, exp = self.model.energy(now)
        pan = self.env.meter
        return {
            "dialect": self.opts.dialect.name,
            "link": str(self.opts.link),
            "plugged": self.link.plugged,
            "pty": self.link.slave_name if self.link.plugged else None,
            "meter_time": self.clock.now_dt().isoformat(),
            "time_scale": self.clock.scale,
            "session": None if s is None else {
                "meter_ip": s.pan.ip, "reauthenticating": s.reauthenticating,
                "expires_in": s.expires - now,
            },
            "reauthentications": self.pana.reauthentications,
            "meter": {"mac": pan.mac, "ip": pan.ip, "channel": pan.channel, "pan_id": pan.pan_id},
            "faults": self.faults.snapshot(),
            "binary_payloads": self.out.binary_payloads,
            "echo": self.dongle.registers["SFE"] == "1",
            "rssi": self.out.rssi,
            "memory": self.dongle.memory.as_dict(),
            "requests": self.meter.requests,
            "scans": self.dongle.scans,
            "notify": self.notifier.mode,
            "notifications_sent": self.notifier.sent,
            "infc": list(self.meter.infc),
            "energy_kwh": {"import": imp, "export": exp},
        }  # fmt: skip
