"""Delivering issued CAP messages: the sinks (directory, HTTP webhook, e-mail) and the outbox deliverer.

Approval queues one outbox row per configured sink; the deliverer sends the rows that are due.
A failed send is recorded on its row (attempts, last error, next attempt after capped exponential
backoff with jitter) and retried; after the sink's max attempts the row is "failed" and stays
visible until someone re-queues it. Nothing is deleted. Every sink is idempotent by the CAP
identifier: the directory file is named after it, the webhook carries it in a header, and the
e-mail's Message-ID is derived from it, so a retry after a lost acknowledgement is harmless.
"""

from __future__ import annotations

__all__ = [
    "IDENTIFIER_HEADER",
    "SIGNATURE_HEADER",
    "Deliverer",
    "DeliveryError",
    "DirectorySink",
    "Sink",
    "SmtpSink",
    "WebhookSink",
    "directory_for",
    "retry_delay",
    "sink_plan",
    "sinks_for",
]

import asyncio
import hashlib
import hmac
import logging
import os
import re
import smtplib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiohttp
from lxml import etree
from sqlalchemy.exc import SQLAlchemyError

from evidence.atomic import write_atomically
from vmsbridge.backoff import Backoff
from vmsbridge.clery.cap import CAP_NAMESPACE
from vmsbridge.config import SiteConfig, SmtpSinkConfig
from vmsbridge.errors import VmsBridgeError
from vmsbridge.store.database import default_data_dir

if TYPE_CHECKING:
    from vmsbridge.app import Stores
    from vmsbridge.model.notifications import CapMessage, NotificationDelivery

log = logging.getLogger(__name__)

IDENTIFIER_HEADER = "X-CAP-Identifier"
SIGNATURE_HEADER = "X-Vmsbridge-Signature"
CAP_MEDIA_TYPE = "application/cap+xml"
DIRECTORY_ATTEMPTS = 5  # a local disk that fails five times needs a person, not a sixth try


class DeliveryError(VmsBridgeError):
    """One send to one sink failed; the outbox row keeps the message and tries again."""


class Sink(Protocol):
    name: str

    async def send(self, message: CapMessage) -> str:
        """Deliver one message; returns a short note for the outbox, raises DeliveryError."""
        ...


def directory_for(site: SiteConfig) -> Path:
    return site.notifications.sinks.directory or (site.storage.data_dir or default_data_dir()) / "cap"


def sink_plan(site: SiteConfig) -> list[tuple[str, int]]:
    """``(sink, max_attempts)`` for every configured sink: the outbox rows an approval creates."""
    sinks = site.notifications.sinks
    plan = [("directory", DIRECTORY_ATTEMPTS)]
    if sinks.webhook is not None:
        plan.append(("webhook", sinks.webhook.max_attempts))
    if sinks.smtp is not None:
        plan.append(("smtp", sinks.smtp.max_attempts))
    return plan


def _file_name(identifier: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", identifier) + ".xml"


class DirectorySink:
    """Writes ``<identifier>.xml``: complete or absent, never half-written (temp file, fsync, rename)."""

    name = "directory"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: CapMessage) -> str:
        try:
            return await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.directory}: {exc}") from exc

    def _write(self, message: CapMessage) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / _file_name(message.identifier)
        if not write_atomically(target, message.xml, unless_same=True):
            return f"{target} (already there)"
        return str(target)


class WebhookSink:
    """POSTs the CAP XML; the identifier header lets the receiver recognize a repeated delivery."""

    name = "webhook"

    def __init__(self, url: str, *, secret: bytes | None = None, timeout_seconds: float = 10) -> None:
        self.url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def headers(self, message: CapMessage) -> dict[str, str]:
        headers = {
            "Content-Type": CAP_MEDIA_TYPE,
            IDENTIFIER_HEADER: message.identifier,
            "Idempotency-Key": message.identifier,
        }
        if self._secret is not None:
            digest = hmac.new(self._secret, message.xml, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        return headers

    async def send(self, message: CapMessage) -> str:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(self.url, data=message.xml, headers=self.headers(message)) as response,
            ):
                body = (await response.text(errors="replace"))[:200]
                if 200 <= response.status < 300:
                    return f"HTTP {response.status}"
                if response.status == 409:  # the receiver already has this identifier
                    return "HTTP 409 (receiver already had it)"
                raise DeliveryError(f"HTTP {response.status} from {self.url}: {body.strip()}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{self.url}: {type(exc).__name__}: {exc}") from exc


def _info_text(xml: bytes) -> dict[str, str]:
    root = etree.fromstring(xml)
    ns = {"cap": CAP_NAMESPACE}
    return {
        name: str(root.findtext(f"cap:info/cap:{name}", default="", namespaces=ns))
        for name in ("headline", "description", "instruction")
    }


class SmtpSink:
    """E-mails the alert (text body plus the CAP XML attached); smtplib runs in a thread."""

    name = "smtp"

    def __init__(self, config: SmtpSinkConfig, *, password: str | None = None) -> None:
        self.config = config
        self._password = password

    def compose(self, message: CapMessage) -> EmailMessage:
        text = _info_text(message.xml)
        mail = EmailMessage()
        prefix = "" if message.status == "Actual" else f"[{message.status.upper()}] "
        mail["Subject"] = prefix + text["headline"]
        mail["From"] = self.config.from_address
        mail["To"] = ", ".join(self.config.to)
        # Derived from the CAP identifier, so a re-sent message is recognizably the same one.
        domain = self.config.from_address.rsplit("@", 1)[1]
        mail["Message-ID"] = f"<{message.identifier}@{domain}>"
        mail[IDENTIFIER_HEADER] = message.identifier
        mail.set_content(f"{text['description']}\n\n{text['instruction']}\n")
        mail.add_attachment(
            message.xml, maintype="application", subtype="cap+xml", filename=_file_name(message.identifier)
        )
        return mail

    async def send(self, message: CapMessage) -> str:
        mail = self.compose(message)
        try:
            await asyncio.to_thread(self._send, mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.config.host}:{self.config.port}: {exc}") from exc
        return f"mailed to {len(self.config.to)} recipient(s)"

    def _send(self, mail: EmailMessage) -> None:
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds) as smtp:
            if cfg.starttls:
                smtp.starttls()
            if cfg.username is not None:
                smtp.login(cfg.username, self._password or "")
            smtp.send_message(mail)


class UnusableSink:
    """A configured sink that cannot run (e.g. its secret is missing): each attempt fails visibly."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    async def send(self, message: CapMessage) -> str:
        raise DeliveryError(self._reason)


def sinks_for(site: SiteConfig, env: Mapping[str, str] | None = None) -> dict[str, Sink]:
    """The configured sinks, secrets read from the environment now (never from the site file)."""
    environ = os.environ if env is None else env
    cfg = site.notifications.sinks
    sinks: dict[str, Sink] = {"directory": DirectorySink(directory_for(site))}
    if cfg.webhook is not None:
        secret = None
        if cfg.webhook.secret_env is not None:
            secret = environ.get(cfg.webhook.secret_env)
        if cfg.webhook.secret_env is not None and not secret:
            sinks["webhook"] = UnusableSink(
                "webhook",
                f"notifications.sinks.webhook.secret_env: environment variable {cfg.webhook.secret_env} "
                "is not set",
            )
        else:
            sinks["webhook"] = WebhookSink(
                cfg.webhook.url,
                secret=secret.encode("utf-8") if secret else None,
                timeout_seconds=cfg.webhook.timeout_seconds,
            )
    if cfg.smtp is not None:
        password = environ.get(cfg.smtp.password_env) if cfg.smtp.password_env else None
        if cfg.smtp.username is not None and not password:
            sinks["smtp"] = UnusableSink(
                "smtp",
                "notifications.sinks.smtp.password_env: a username needs a password from an environment "
                f"variable ({cfg.smtp.password_env or 'not named'})",
            )
        else:
            sinks["smtp"] = SmtpSink(cfg.smtp, password=password)
    return sinks


def retry_delay(attempts: int, *, initial: float, maximum: float) -> float:
    """Seconds to wait after the ``attempts``-th failure (1, 2, ...): capped, exponential, jittered."""
    backoff = Backoff(initial=initial, maximum=maximum)
    delay = 0.0
    for _ in range(max(attempts, 1)):
        delay = backoff.next()
    return delay


class Deliverer:
    """Sends due outbox rows. Run it after each approval and periodically (``notify deliver``)."""

    def __init__(
        self,
        stores: Stores,
        sinks: Mapping[str, Sink],
        *,
        initial_delay: float = 30.0,
        max_delay: float = 3600.0,
    ) -> None:
        self._stores = stores
        self._sinks = sinks
        self._initial = initial_delay
        self._maximum = max_delay

    async def deliver_due(self, now: datetime | None = None) -> list[NotificationDelivery]:
        """One attempt for every row due at ``now``; returns the rows as they are afterwards."""
        at = now or datetime.now(UTC)
        results = []
        for delivery, message in await self._stores.notifications.due_deliveries(at):
            sink = self._sinks.get(delivery.sink)
            error = detail = None
            try:
                if sink is None:
                    raise DeliveryError(f"sink {delivery.sink!r} is no longer configured")
                detail = await sink.send(message)
            except DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a sink's bug must not stop the others or lose the row
                log.exception(
                    "CAP message of notification %d to %s: unexpected error in the sink",
                    message.notification_id,
                    delivery.sink,
                )
                error = f"unexpected {type(exc).__name__}: {exc}"
            delay = retry_delay(delivery.attempts + 1, initial=self._initial, maximum=self._maximum)
            results.append(
                await self._stores.notifications.record_attempt(
                    delivery.id,
                    error=error,
                    detail=detail,
                    retry_at=at + timedelta(seconds=delay),
                    now=at,
                )
            )
        return results

    async def run(self, poll_seconds: float = 60.0) -> None:
        """The service's deliverer: send what is due, sleep until the next retry (or a poll, for
        rows approved by another process), forever. A database that is away is waited out."""
        backoff = Backoff(initial=1.0, maximum=300.0)
        while True:
            try:
                for delivery in await self.deliver_due():
                    if delivery.state != "delivered":
                        log.warning(
                            "CAP message %s to %s not delivered (%s, attempt %d): %s",
                            delivery.cap_message_id,
                            delivery.sink,
                            delivery.state,
                            delivery.attempts,
                            delivery.last_error,
                        )
                due = await self._stores.notifications.next_due()
                backoff.reset()
            except (SQLAlchemyError, OSError) as exc:
                delay = backoff.next()
                log.error(
                    "notification delivery could not read the outbox, retrying in %.0f s: %s", delay, exc
                )
                await asyncio.sleep(delay)
                continue
            except Exception:
                # Anything else is a bug; dying would end delivery silently until a restart. The
                # row stays pending in the outbox, so the next round retries it; the backoff keeps
                # a bug that repeats from spinning.
                delay = backoff.next()
                log.exception("notification delivery failed unexpectedly, retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                continue
            wait = poll_seconds if due is None else (due - datetime.now(UTC)).total_seconds()
            await asyncio.sleep(min(max(wait, 0.0), poll_seconds))

    async def deliver_until_settled(self, within_seconds: float) -> list[NotificationDelivery]:
        """Keep delivering (waiting for each retry time) until nothing is pending or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        latest: dict[int, NotificationDelivery] = {}
        while True:
            for delivery in await self.deliver_due():
                latest[delivery.id] = delivery
            due = await self._stores.notifications.next_due()
            if due is None:
                break
            wait = max((due - datetime.now(UTC)).total_seconds(), 0.0)
            if loop.time() + wait > deadline:
                break
            await asyncio.sleep(wait)
        return list(latest.values())
