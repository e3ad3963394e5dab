"""The PTZ service of an emulated device: presets, GotoPreset (a timed move), status and stop."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from connectors.onvif.emulator.soap import _Call, _el, _format_time, _invalid_arg, _text
from connectors.onvif.emulator.spec import preset_position
from connectors.onvif.emulator.state import DeviceState

__all__ = ["PtzService"]


class PtzService(DeviceState):
    """PTZ operations on the profiles that have PTZ."""

    async def _get_presets(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        presets = (
            _el("tptz:Preset", _el("tt:Name", name), attrs={"token": token})
            for token, name in profile.presets.items()
        )
        return _el("tptz:GetPresetsResponse", *presets)

    async def _goto_preset(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        preset = _text(call.body, "PresetToken") or ""
        if preset not in profile.presets:
            raise _invalid_arg("ter:NoToken", f"profile {profile.token!r} has no preset {preset!r}")
        self.goto_calls.append((profile.token, preset))
        self.goto_received_at.append(datetime.now(UTC))
        self.ptz_status[profile.token] = "MOVING"
        previous = self._ptz_timers.pop(profile.token, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._ptz_timers[profile.token] = loop.call_later(
            self.ptz_move_seconds, self._finish_move, profile.token, preset
        )
        return _el("tptz:GotoPresetResponse")

    async def _get_status(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        state = self.ptz_status[profile.token]
        pan, tilt, zoom = preset_position(self.ptz_preset.get(profile.token))
        status = _el(
            "tptz:PTZStatus",
            _el(
                "tt:Position",
                _el("tt:PanTilt", attrs={"x": f"{pan:.4f}", "y": f"{tilt:.4f}"}),
                _el("tt:Zoom", attrs={"x": f"{zoom:.4f}"}),
            ),
            _el("tt:MoveStatus", _el("tt:PanTilt", state), _el("tt:Zoom", state)),
            _el("tt:UtcTime", _format_time(self.device_now())),
        )
        return _el("tptz:GetStatusResponse", status)

    async def _stop_ptz(self, call: _Call) -> ET.Element:
        profile = self._profile(call, ptz=True)
        handle = self._ptz_timers.pop(profile.token, None)
        if handle is not None:
            handle.cancel()
        self.ptz_status[profile.token] = "IDLE"
        return _el("tptz:StopResponse")

    def _finish_move(self, profile: str, preset: str) -> None:
        self._ptz_timers.pop(profile, None)
        self.ptz_status[profile] = "IDLE"
        self.ptz_preset[profile] = preset
