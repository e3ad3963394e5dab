"""Profile G on an emulated device: the Search service (GetRecordingSummary, FindRecordings and its
results), the Recording service (GetRecordings) and the Replay service (GetReplayUri). The recordings
and their RTSP replay live in :mod:`connectors.onvif.emulator.rtsp`; this module describes them in SOAP.
"""

from __future__ import annotations

__all__ = ["ReplayService"]

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from connectors.onvif.emulator.rtsp import RtspServer
from connectors.onvif.emulator.soap import _Call, _el, _invalid_arg, _text
from connectors.onvif.emulator.state import DeviceState


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReplayService(DeviceState):
    """Search, Recording and Replay operations over the device's one recording per video source."""

    rtsp: RtspServer
    _searches: set[str]

    def _recording_token(self, call: _Call) -> str:
        token = _text(call.body, "RecordingToken") or ""
        if token not in self.rtsp.recordings:
            raise _invalid_arg(
                "ter:NoRecording", f"no recording {token!r}; recordings: {sorted(self.rtsp.recordings)}"
            )
        return token

    def _source(self, recording: str) -> ET.Element:
        source = self.rtsp.recordings[recording]
        return _el(
            "tt:Source",
            _el("tt:SourceId", source),
            _el("tt:Name", f"{self.spec.id} {source}"),
            _el("tt:Location", ""),
            _el("tt:Description", "video source of this device"),
            _el("tt:Address", self.url),
        )

    def _information(self, recording: str) -> ET.Element:
        data_from, data_until = _iso(self.rtsp.recorded_from), _iso(self.device_now())
        track = _el(
            "tt:Track",
            _el("tt:TrackToken", "VIDEO001"),
            _el("tt:TrackType", "Video"),
            _el("tt:Description", "H.264"),
            _el("tt:DataFrom", data_from),
            _el("tt:DataTo", data_until),
        )
        return _el(
            "tse:RecordingInformation",
            _el("tt:RecordingToken", recording),
            self._source(recording),
            _el("tt:EarliestRecording", data_from),
            _el("tt:LatestRecording", data_until),
            _el("tt:Content", "continuous"),
            track,
            _el("tt:RecordingStatus", "Recording"),
        )

    async def _get_recording_summary(self, call: _Call) -> ET.Element:
        summary = _el(
            "tse:Summary",
            _el("tt:DataFrom", _iso(self.rtsp.recorded_from)),
            _el("tt:DataUntil", _iso(self.device_now())),
            _el("tt:NumberRecordings", str(len(self.rtsp.recordings))),
        )
        return _el("tse:GetRecordingSummaryResponse", summary)

    async def _find_recordings(self, call: _Call) -> ET.Element:
        token = f"search-{len(self._searches) + 1}"
        self._searches.add(token)
        return _el("tse:FindRecordingsResponse", _el("tse:SearchToken", token))

    async def _get_recording_search_results(self, call: _Call) -> ET.Element:
        token = _text(call.body, "SearchToken") or ""
        if token not in self._searches:
            raise _invalid_arg("ter:InvalidToken", f"no search {token!r}")
        results = _el(
            "tse:ResultList",
            _el("tt:SearchState", "Completed"),
            *(self._information(recording) for recording in self.rtsp.recordings),
        )
        return _el("tse:GetRecordingSearchResultsResponse", results)

    async def _end_search(self, call: _Call) -> ET.Element:
        self._searches.discard(_text(call.body, "SearchToken") or "")
        return _el("tse:EndSearchResponse", _el("tse:Endpoint", _iso(self.device_now())))

    async def _get_recordings(self, call: _Call) -> ET.Element:
        items = []
        for recording in self.rtsp.recordings:
            configuration = _el(
                "tt:Configuration",
                self._source(recording),
                _el("tt:Content", "continuous"),
                _el("tt:MaximumRetentionTime", "PT0S"),
            )
            track = _el(
                "tt:Track",
                _el("tt:TrackToken", "VIDEO001"),
                _el("tt:Configuration", _el("tt:TrackType", "Video"), _el("tt:Description", "H.264")),
            )
            items.append(
                _el(
                    "trc:RecordingItem",
                    _el("tt:RecordingToken", recording),
                    configuration,
                    _el("tt:Tracks", track),
                )
            )
        return _el("trc:GetRecordingsResponse", *items)

    async def _get_replay_uri(self, call: _Call) -> ET.Element:
        recording = self._recording_token(call)
        return _el("trp:GetReplayUriResponse", _el("trp:Uri", self.rtsp.replay_url(recording)))
