"""The radio neighbourhood the dongle scans: our meter's PAN and, on demand, the neighbours'."""

from __future__ import annotations

import random
from dataclasses import dataclass


def link_local(mac: str) -> str:
    """FE80::/64 address of a 64-bit MAC (universal/local bit flipped), SKSTACK spelling."""
    iid = int(mac, 16) ^ (1 << 57)
    groups = [f"{(iid >> s) & 0xFFFF:04X}" for s in (48, 32, 16, 0)]
    return "FE80:0000:0000:0000:" + ":".join(groups)


@dataclass(frozen=True)
class Pan:
    """One meter's network as a scan sees it."""

    mac: str
    channel: int
    pan_id: int
    lqi: int
    pair_id: str  # last 8 characters of the B-route ID the meter belongs to
    ours: bool = True  # our B-route credentials open it

    @property
    def ip(self) -> str:
        return link_local(self.mac)

    def epandesc(self, with_pair_id: bool, dual_stack: bool) -> list[str]:
        lines = [
            "EPANDESC",
            f"  Channel:{self.channel:02X}",
            "  Channel Page:09",
            f"  Pan ID:{self.pan_id:04X}",
            f"  Addr:{self.mac}",
            f"  LQI:{self.lqi:02X}",
        ]
        if dual_stack:
            lines.append("  Side:0")  # before PairID, dual-stack only (notes §4.2)
        if with_pair_id:
            lines.append(f"  PairID:{self.pair_id}")
        return lines


class RadioEnvironment:
    def __init__(self, pair_id: str | None, seed: int = 1) -> None:
        self._pair_id = pair_id
        self._rng = random.Random(seed)
        self.meter = Pan("001D129012345678", channel=0x21, pan_id=0x8CF5, lqi=0xE1,
                         pair_id=pair_id or "")  # fmt: skip
        # Other households' meters: other PairIDs, one of them heard better than ours.
        self.neighbours = [
            Pan("001D1290ABCDEF01", 0x2F, 0x1234, 0xF0, "0BADBEEF", ours=False),
            Pan("001D1290ABCDEF02", 0x21, 0x4321, 0x60, "0D15EA5E", ours=False),
        ]

    def pair_id_for(self, rbid: str) -> str:
        """Our meter's PairID: fixed by --rbid, else whatever ID the host configured."""
        return self._pair_id or (rbid[-8:] if rbid else "00000000")

    def scan(self, rbid: str, neighbours: bool) -> list[Pan]:
        pans = [Pan(self.meter.mac, self.meter.channel, self.meter.pan_id, self.meter.lqi,
                    self.pair_id_for(rbid))]  # fmt: skip
        if neighbours:
            pans += self.neighbours
        return pans

    def find(self, ip: str, neighbours: bool) -> Pan | None:
        for pan in [self.meter, *(self.neighbours if neighbours else [])]:
            if pan.ip == ip.upper():
                return pan
        return None

    def replace_meter(self) -> Pan:
        """A new meter: another MAC, PAN ID and channel, so a cached join goes nowhere."""
        old = self.meter
        while True:
            mac = f"001D1290{self._rng.getrandbits(32):08X}"
            channel = self._rng.randint(0x21, 0x3C)
            pan_id = self._rng.randint(0x0001, 0xFFFE)
            if mac != old.mac and channel != old.channel and pan_id != old.pan_id:
                break
        self.meter = Pan(mac, channel, pan_id, old.lqi, old.pair_id)
        return self.meter
