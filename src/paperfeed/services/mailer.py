"""Outgoing mail over SMTP: the one path for digests, confirmations and password resets.

PAPERFEED_SMTP_URL is `smtp://[user:pass@]host[:port]` (plain; `?starttls=1` upgrades the
connection), or `smtps://...` (TLS from the first byte, port 465 by default); `?timeout=S`
sets the seconds to wait for the server (default 30).

Failures are sorted by what they say about delivery, which is what the digest outbox needs:
- TemporaryMailError: not delivered, worth retrying (a 4xx reply, refused or dropped
  connection, a timeout before the message was handed over);
- PermanentMailError: not delivered, do not retry (a 5xx reply);
- UncertainDelivery: the message was handed over (DATA) but no reply came; the server
  may have queued it, so resending could deliver it twice.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError

# Email templates sit beside the site's so that one folder holds all the wording.
EMAIL_TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates" / "email"
DEFAULT_TIMEOUT_S = 30.0

# HTML templates are autoescaped; .txt ones are not (nothing there is markup).
email_templates = Environment(
    loader=FileSystemLoader(EMAIL_TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class MailError(PaperfeedError):
    """A message that did not (certainly) reach the SMTP server."""


class TemporaryMailError(MailError):
    pass


class ServerUnavailable(TemporaryMailError):
    """The server cannot be reached, dropped the connection, or refuses our login or our
    sender: every message would fail the same way, so a run stops rather than mark each
    one failed."""


class PermanentMailError(MailError):
    pass


class UncertainDelivery(MailError):
    pass


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    security: str = "plain"  # 'plain', 'starttls' or 'ssl'
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def display(self) -> str:
        scheme = "smtps" if self.security == "ssl" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"


def parse_smtp_url(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> SmtpConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError(
            f"bad SMTP URL {url.split('@')[-1]!r}: use smtp://user:pass@host:port "
            "(?starttls=1) or smtps://user:pass@host:port"
        )
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
    try:
        timeout_s = float(query.get("timeout", [timeout_s])[0])
    except ValueError as exc:
        raise MailError(f"bad timeout in SMTP URL: {exc}") from exc
    security = "ssl" if parts.scheme == "smtps" else "starttls" if starttls else "plain"
    try:
        port = parts.port or (465 if security == "ssl" else 587 if starttls else 25)
    except ValueError as exc:
        raise MailError(f"bad port in SMTP URL: {exc}") from exc
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        security=security,
        timeout_s=timeout_s,
    )


def _text(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _reply_error(code: int, reply: bytes | str, what: str) -> MailError:
    """A refusal of one message (its recipient or its content): 4xx or 5xx."""
    message = f"{what}: {code} {_text(reply)}"
    return TemporaryMailError(message) if 400 <= code < 500 else PermanentMailError(message)


class SmtpMailer:
    """One SMTP connection, opened on the first message and reused for the next ones."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        try:
            if cfg.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout_s, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            if cfg.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, cfg.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerUnavailable(f"{cfg.display} refused the login: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"cannot talk to {cfg.display}: {_describe(exc)}") from exc
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its To address, or raise one of the MailErrors above."""
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        sender = message["Return-Path"] or message["From"]
        recipient = message["To"]
        try:
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(_address_of(sender))
            if code != 250:
                smtp.rset()
                raise ServerUnavailable(
                    f"{self.config.display} refused the sender {sender}: {code} {_text(reply)}"
                )
            code, reply = smtp.rcpt(_address_of(recipient))
            if code not in (250, 251):
                smtp.rset()
                raise _reply_error(code, reply, f"{recipient} refused")
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            if isinstance(exc, smtplib.SMTPResponseException):
                raise _reply_error(exc.smtp_code, exc.smtp_error, "SMTP error") from exc
            raise ServerUnavailable(
                f"lost {self.config.display} before sending: {_describe(exc)}"
            ) from exc
        try:
            # policy.SMTP: CRLF line ends, which smtplib does not add to bytes.
            code, reply = smtp.data(message.as_bytes(policy=policy.SMTP))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing handed over
            raise _reply_error(exc.smtp_code, exc.smtp_error, "message refused") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise UncertainDelivery(
                f"no answer from {self.config.display} after the message was handed over "
                f"({_describe(exc)}): it may have been delivered"
            ) from exc
        if code != 250:
            raise _reply_error(code, reply, "message refused")

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _address_of(header_value: str) -> str:
    return parseaddr(header_value)[1]


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or "localhost"


def new_message(
    sender: str, to: str, subject: str, text: str, html: str | None, base_url: str
) -> EmailMessage:
    """A message with the headers every mail of ours carries. The header values come from
    settings and validated addresses; EmailMessage refuses CR/LF in any of them anyway."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=host_of(base_url))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def open_mailer(settings: Settings) -> SmtpMailer:
    if not settings.smtp_url:
        raise MailError("no mail server configured: set PAPERFEED_SMTP_URL (see docs/digest.md)")
    return SmtpMailer(parse_smtp_url(settings.smtp_url))
