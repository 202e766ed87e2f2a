"""Users, API tokens and sessions of the test server.

``Authenticate`` with a password or an API token opens a session: a session token (``adbs_``) that
every later query carries and a refresh token (``adbr_``) that ``RefreshToken`` trades for a new
pair. A missing, unknown or expired session token is answered ``Not Authenticated!``.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass

NOT_AUTHENTICATED = {"status": -1, "info": "Not Authenticated!"}
_ALPHABET = string.ascii_letters + string.digits


def new_token(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(36))


@dataclass
class _Session:
    username: str
    expires: float
    refresh_token: str
    refresh_expires: float


class Accounts:
    def __init__(self, username: str = "admin", password: str = "admin", tokens: tuple[str, ...] = (),
                 session_ttl: int = 3600, refresh_ttl: int = 86400):
        self.passwords = {username: password}
        self.read_only: set[str] = set()  # users whose role may only read
        self.tokens = {token: username for token in tokens}
        self.session_ttl = session_ttl
        self.refresh_ttl = refresh_ttl
        self.refuse_logins = False
        self._sessions: dict[str, _Session] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> session token
        self._lock = threading.Lock()
        self.sessions_opened = 0  # by logins and refreshes, for tests that count how often a client logs in

    def add_user(self, username: str, password: str, read_only: bool = False) -> None:
        self.passwords[username] = password
        if read_only:
            self.read_only.add(username)

    def add_token(self, username: str | None = None) -> str:
        token = new_token("adbp_")
        self.tokens[token] = username or next(iter(self.passwords))
        return token

    def authenticate(self, params: dict) -> dict:
        if not isinstance(params, dict):
            return _refused("Authenticate parameters must be an object")
        unknown = set(params) - {"username", "password", "token"}
        if unknown:
            return _refused(f"unsupported parameter {sorted(unknown)[0]!r} in Authenticate")
        if self.refuse_logins:
            return _refused("Authentication refused: the server does not accept logins now")
        username = params.get("username")
        if "password" in params:
            if self.passwords.get(username) != params["password"] or not params["password"]:
                return _refused("Authentication failed: wrong username or password")
        elif "token" in params:
            owner = self.tokens.get(params["token"])
            if owner is None or (username and username != owner):
                return _refused("Authentication failed: invalid token")
            username = owner
        else:
            return _refused("Authenticate needs a password or a token")
        return [{"Authenticate": self._open(username)}]

    def refresh(self, params: dict) -> dict:
        token = params.get("refresh_token") if isinstance(params, dict) else None
        with self._lock:
            session_token = self._refresh.pop(token, None) if isinstance(token, str) else None
            session = self._sessions.pop(session_token, None) if session_token else None
        if session is None or session.refresh_expires < time.monotonic():
            return [{"RefreshToken": {"status": -1, "info": "Invalid or expired refresh token"}}]
        return [{"RefreshToken": self._open(session.username)}]

    def _open(self, username: str) -> dict:
        session_token, refresh_token = new_token("adbs_"), new_token("adbr_")
        now = time.monotonic()
        with self._lock:
            self._sessions[session_token] = _Session(
                username, now + self.session_ttl, refresh_token, now + self.refresh_ttl
            )
            self._refresh[refresh_token] = session_token
            self.sessions_opened += 1
        return {
            "status": 0,
            "session_token": session_token,
            "session_token_expires_in": self.session_ttl,
            "refresh_token": refresh_token,
            "refresh_token_expires_in": self.refresh_ttl,
        }

    def session_user(self, token: str) -> str | None:
        """The user of a valid session token, None for a missing, unknown or expired one."""
        session = self._sessions.get(token)
        if session is None or session.expires < time.monotonic():
            return None
        return session.username

    def expire_sessions(self) -> None:
        """Make every open session token expire now; refresh tokens stay valid."""
        with self._lock:
            for session in self._sessions.values():
                session.expires = 0


def _refused(info: str) -> list:
    return [{"Authenticate": {"status": -1, "info": info}}]
