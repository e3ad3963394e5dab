"""An XProtect API Gateway emulator: IDP tokens, RESTful Config/Events/Alarms/Bookmarks and the Events
and State WebSocket, all served by aiohttp on one port.

It is a standalone test peer for the XProtect connector, the benchmarks and a CLI command, so it
never imports ``vmsbridge``. Shapes follow the XProtect research notes (``xprotect.md``): the IDP
token endpoint, ``{"array": [...]}`` / ``{"data": {...}}`` REST envelopes, the
``error.httpCode/details[].errorText`` error shape, asynchronous tasks polled under ``/tasks``, and
``startSession`` / ``addSubscription`` / ``getState`` on ``/api/ws/events/v1`` with resumable sessions.

Events are injected with :meth:`XProtectEmulator.fire` (or its wrappers) in process, or through the
JSON control surface under ``/control/`` (no authentication). :class:`Quirks` makes the gateway
misbehave at run time. Everything runs on the event loop that started the emulator; call ``fire()``
and friends from that loop only.

Choices where the real API is not documented
--------------------------------------------
* **Event ids and order.** Event ids are random GUIDs; the emulator keeps the firing order itself.
  Resuming with an ``eventId`` replays every buffered event after it that matches the session's
  subscriptions; an empty or unknown ``eventId`` (never received anything, or evicted from the
  10 000-event buffer) replays the whole buffer. Replayed events arrive in frames of up to 100, live
  events one per frame.
* **Sessions.** Only a session whose socket has gone is resumable (a ``sessionId`` still attached to
  an open socket gets a new session, 201). A second ``startSession`` on the same socket detaches the
  first session, which stays resumable. ``addSubscription``, ``removeSubscription`` and ``getState``
  before ``startSession`` answer 400. ``addSubscription`` answers 200 (the Milestone sample says
  "200 indicates subscription was successfully created"); ``removeSubscription`` of an unknown id 404.
* **Filters.** ``modifier`` is case-insensitive (the JavaScript sample sends ``"Include"``) and
  defaults to include; a missing ``resourceTypes``/``sourceIds``/``eventTypes`` means ``["*"]``.
  Ids and types compare case-insensitively; ``sourceIds`` match the id part of the source path (or
  the whole path). Filters combine per subscription: an event matches a subscription when one of
  its include filters matches and none of its exclude filters does; a session receives an event
  when any of its subscriptions matches, once.
* **State.** Stateful types (motion, communication, recording, input, output) carry
  ``stategroupid``; ``getState`` returns the latest event per (source, state group), oldest first.
  At start every enabled camera is "Communication Started", "Motion Stopped" and "Recording
  Stopped", every enabled input "Input Deactivated" and every output "Output Deactivated"; these
  seeded states are not events (they are not in ``GET /events`` nor replayed).
* **WebSocket errors.** A text frame that is not a JSON object with a ``command`` string (or any
  binary frame) closes the socket with :data:`CLOSE_MALFORMED` (1007); a command other than
  ``authenticate`` on a socket that is not authenticated gets a 401 reply, then a close with
  :data:`CLOSE_UNAUTHORIZED` (1008). An unknown command name gets a 400 reply and the socket stays
  open. ``authenticate`` accepts ``"Bearer <token>"`` or the bare token.
* **Tokens.** Opaque random strings; ``expires_in`` is the lifetime rounded up to whole seconds.
  ``VmsClient`` also receives a ``refresh_token`` (``grant_type=refresh_token`` works);
  ``windows_credentials`` is answered ``unsupported_grant_type``. A missing or unknown bearer token
  is "Token validation failed: the token is invalid.", an expired one "... the token is expired.".
  :meth:`XProtectEmulator.expire_tokens` expires access tokens only, not refresh tokens. The IDP
  paths are matched case-insensitively.
* **Config REST.** ``name=`` (and any other field) filters accept the operators ``equals``
  (default), ``notEquals``, ``startsWith``, ``contains`` (case-insensitive), ``lt`` and ``gt``
  (numeric when both sides are numbers); a value may be quoted with ``'``. Items without an
  ``enabled`` field are always listed. Hardware, site, recording-server and storage fields are
  plausible constants; hardware is named ``EmuCam <n> (<address>)``. Event types have
  ``generatorType`` "Device" (built-in) or "External" (user-defined events, whose event type id is
  the UDE id); ``stateGroupId``/``state``/``counterEventID`` are ``""`` for stateless types.
  State-group and alarm-state GUIDs are invented; alarm-priority and event-type-group GUIDs come from
  the older Config REST spec. Creating or changing config items is not emulated.
* **Tasks.** ``GET /tasks/{n}`` reports ``InProgress`` (progress 50) until it has been polled
  :attr:`XProtectEmulator.task_polls_to_complete` times, then ``Success`` (progress 100) or, with
  the ``fail_tasks`` quirk, ``Error`` with ``errorText``. ``data.path`` names what the task acted on.
  Preset collections offer ``DefaultPtzPreset`` and ``GetDevicePresets`` (no effect), a preset
  ``Activate`` ("Go to preset"), an output ``Activate``/``Deactivate``/``Trigger`` (firing the output
  events). A POST without ``?task`` answers 400. ``TaskCleanup`` answers 200 ``{"result": {...}}``.
* **Events REST.** Any known event type may be triggered (the real server lets user tokens trigger
  only External and MIPDevice types). ``source`` may be a path or ``{"type", "id"}`` and must name
  an existing item; an optional ``data`` object is passed through. ``GET /events`` lists newest
  first; ``page`` defaults to 0 and ``size`` to 100 (also for ``/alarms``).
* **Alarms.** Alarm and event timestamps are ISO-8601 UTC with ``Z``. ``POST /alarms`` ``source``
  may be a camera id, ``cameras/<id>`` or ``{"type": "cameras", "id"}``; ``priority`` an id or a
  name (default High). ``PATCH`` accepts ``state``, ``priority``, ``comment``,
  ``assignedTo.displayName`` and ``reasonForClosing`` (null leaves a field alone); other keys
  answer 400. An alarm made by an alarm definition is named after the definition, its message is
  the event type's name, its source the first related camera (else the event's source camera).
* **Bookmarks.** ``reference`` defaults to ``no.<n>``; ``timeTriggered`` to ``timeBegin``;
  ``?task=...`` on ``/bookmarks`` answers 400.
* **Quirks.** ``malformed_json`` truncates event frames (live and replayed); command replies stay
  valid so a client can still open a session. ``delay_seconds`` delays REST and IDP responses, not
  the WebSocket. ``http_500`` applies after the token check.
* **Output event types.** "Output Activated" ``7a78f5bb-d8c3-4997-89b7-cae72713b7db`` and "Output
  Deactivated" ``35742498-bcc5-4f0a-9800-827c9388d1cd`` are the GUIDs in Milestone's
  ``EventsAndStateWebSocketApiPython/event_types.py``, not invented ones.

Modules, one concern each: ``ids`` (well-known GUIDs and event-type tables), ``spec`` (the site and
quirks), ``rest`` (REST plumbing), ``config_tree`` (the configuration items), ``sessions`` (events
as fired, WebSocket sessions and filters), ``state`` (a gateway's state), ``idp`` (tokens),
``events_socket`` (the Events and State WebSocket), ``alarms``, ``bookmarks``, ``events`` (firing
events, events REST), ``config_rest`` (configuration and tasks REST), ``control`` (the
``/control/`` surface) and ``server`` (:class:`XProtectEmulator`: routes and gateway middleware).

Recorded video: ``vmslogin`` (the management server's SOAP ``Login``, bearer token -> VMS token),
``recording`` (a clip stored as a recording server keeps it) and ``imageserver``
(:class:`~connectors.xprotect.emulator.imageserver.ImageServerEmulator`, the recording server's
ImageServer protocol on its own TCP port).

Names with a leading underscore are shared between this package's modules only; the names
re-exported here are its API.
"""

from connectors.xprotect.emulator import ids
from connectors.xprotect.emulator.events_socket import CLOSE_MALFORMED, CLOSE_UNAUTHORIZED
from connectors.xprotect.emulator.idp import TOKEN_EXPIRED_TEXT, TOKEN_INVALID_TEXT
from connectors.xprotect.emulator.ids import *  # noqa: F403  (event type and state group ids, re-exported below)
from connectors.xprotect.emulator.server import REST_PREFIX, WS_PATH, XProtectEmulator
from connectors.xprotect.emulator.spec import (
    AlarmDefinitionSpec,
    CameraSpec,
    InputSpec,
    OutputSpec,
    Quirks,
    UserEventSpec,
    XProtectSpec,
)

__all__ = [
    "CLOSE_MALFORMED",
    "CLOSE_UNAUTHORIZED",
    "REST_PREFIX",
    "TOKEN_EXPIRED_TEXT",
    "TOKEN_INVALID_TEXT",
    "WS_PATH",
    "AlarmDefinitionSpec",
    "CameraSpec",
    "InputSpec",
    "OutputSpec",
    "Quirks",
    "UserEventSpec",
    "XProtectEmulator",
    "XProtectSpec",
]
__all__ += ids.__all__
