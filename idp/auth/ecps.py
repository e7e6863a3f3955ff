"""The e-CPS push approval, as the phone app does it since June 2022.

The login page shows a two-digit code; the phone asks the e-CPS password, then offers
three codes of which one is right; choosing it approves, choosing another or refusing
denies. The identity's policy can answer in the phone's place: ``auto`` approves at once,
``deny`` refuses, ``timeout`` never answers (the request expires), ``manual`` waits for
someone on the phone simulator. The same approvals serve CIBA, whose ``channel=CARD``
requests are answered on the card-reader simulator (CPS-Gestion) instead of the phone:
each approval says its channel, and each simulator shows and answers only its own.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from idp.mockdata import Identity
from idp.store import Record, Store

APPROVAL = "approval"
PENDING, APPROVED, DENIED, EXPIRED = "pending", "approved", "denied", "expired"
MOBILE, CARD = "MOBILE", "CARD"  # the e-CPS app on the phone, or the card through CPS-Gestion
# Records outlive their deadline a little, so a late poll learns "expired", not "unknown".
_GRACE = 120
HISTORY = "ecps-history"
_HISTORY_SIZE = 10  # the app's history: the last requests of one identity
_HISTORY_TTL = 86400


class WrongPassword(Exception):
    """The e-CPS password typed on the phone is not this person's."""


class NotPending(Exception):
    """The request was answered, superseded or expired before this answer came."""

    def __init__(self, approval: Approval, status: str) -> None:
        super().__init__(status)
        self.approval = approval
        self.status = status  # APPROVED, DENIED (see ``approval.reason``) or EXPIRED


@dataclass(slots=True)
class Approval:
    id: str
    id_nat: str
    code: str  # shown on the login page (or CIBA's binding_message)
    choices: list[str]  # what the phone offers: the right code and two others
    client_name: str
    expires_at: float
    status: str = PENDING
    reason: str = ""  # why it was denied: refused, wrong_code, policy
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    approve_at: float | None = None  # an ``auto`` policy with a delay (control API scenario)
    channel: str = MOBILE  # where it is answered: the phone (MOBILE) or the card reader (CARD)

    def status_at(self, now: float) -> str:
        if self.status == PENDING and self.approve_at is not None and now >= self.approve_at:
            return APPROVED if self.approve_at < self.expires_at else EXPIRED
        if self.status == PENDING and now >= self.expires_at:
            return EXPIRED
        return self.status


def _two_digits() -> str:
    return f"{secrets.randbelow(100):02d}"


def _choices(code: str) -> list[str]:
    others: set[str] = set()
    while len(others) < 2:
        candidate = _two_digits()
        if candidate != code:
            others.add(candidate)
    choices = [code, *others]
    secrets.SystemRandom().shuffle(choices)
    return choices


class Approvals:
    def __init__(self, store: Store, lifetime: int) -> None:
        self._store = store
        self._lifetime = lifetime

    def request(
        self,
        identity: Identity,
        client_name: str,
        code: str | None = None,
        *,
        channel: str = MOBILE,
    ) -> Approval:
        """Push a request to the person's phone (or card reader, ``channel=CARD``); the
        identity's policy may answer it."""
        code = code or _two_digits()
        approval = Approval(
            id=secrets.token_urlsafe(24),
            id_nat=identity.id_nat,
            code=code,
            choices=_choices(code),
            client_name=client_name,
            expires_at=self._store.clock.now() + self._lifetime,
            channel=channel,
        )
        if identity.policy == "auto" and identity.delay > 0:
            approval.approve_at = self._store.clock.now() + identity.delay
        elif identity.policy == "auto":
            approval.status = APPROVED
        elif identity.policy == "deny":
            approval.status, approval.reason = DENIED, "policy"
        self._supersede_pending(identity.id_nat, channel)
        self._save(approval)
        return approval

    def _supersede_pending(self, id_nat: str, channel: str) -> None:
        """The e-CPS app (or CPS-Gestion) shows one request at a time: a new push replaces
        a pending one of the same channel. So only the newest request of a channel can be
        pending, and it is the only one read (reading them all made each CIBA request of
        an identity slower than the last: 4.1 → 7.8 ms after 1,200 of them).
        [INFERRED: no source describes two simultaneous pushes.]"""
        record = self._newest(id_nat, channel)
        now = self._store.clock.now()
        if record is None or Approval(**record.value).status_at(now) != PENDING:
            return  # an ``auto`` approval already due stays approved
        self._decided(
            self._store.update(
                APPROVAL,
                record.key,
                lambda value: (
                    value.update(status=DENIED, reason="superseded")
                    if Approval(**value).status_at(now) == PENDING
                    else None
                ),
            )
        )

    def _newest(self, id_nat: str, channel: str) -> Record | None:
        newest = self._store.owned_by(APPROVAL, _owner(id_nat, channel), newest=1)
        return newest[0] if newest else None

    def get(self, approval_id: str) -> Approval | None:
        record = self._store.get(APPROVAL, approval_id)
        return Approval(**record.value) if record else None

    def pending_for(self, identity: Identity, channel: str = MOBILE) -> list[Approval]:
        """What the phone (or, ``channel=CARD``, the card reader) shows: the channel's
        pending request, if any (a push supersedes the one before). A ``timeout`` identity
        never sees anything."""
        if identity.policy == "timeout":
            return []
        record = self._newest(identity.id_nat, channel)
        approval = Approval(**record.value) if record else None
        if approval is None or approval.status_at(self._store.clock.now()) != PENDING:
            return []
        return [approval]

    def answer(
        self, approval_id: str, identity: Identity, *, password: str, chosen: str | None
    ) -> Approval | None:
        """Approve with the right code, deny with another one or with ``chosen=None``.

        A wrong password changes nothing (the phone asks again). None when the identity
        has no such MOBILE request; :class:`NotPending` when it was decided before.
        """
        if not hmac.compare_digest(password.encode(), identity.ecps_password.encode()):
            raise WrongPassword

        def outcome(approval: Approval) -> dict[str, str]:
            if chosen is None:
                return {"status": DENIED, "reason": "refused"}
            if hmac.compare_digest(chosen.encode(), approval.code.encode()):
                return {"status": APPROVED}
            return {"status": DENIED, "reason": "wrong_code"}

        return self._decide(approval_id, identity.id_nat, MOBILE, outcome)

    def answer_on_card(self, approval_id: str, id_nat: str, *, approve: bool) -> Approval | None:
        """Approve or refuse a ``channel=CARD`` request of ``id_nat`` on the card reader.

        The caller has authenticated the holder's card (PIN, signed challenge, card check)
        before approving; a refusal needs no card. None and :class:`NotPending` as for
        :meth:`answer`.
        """
        decision = {"status": APPROVED} if approve else {"status": DENIED, "reason": "refused"}
        return self._decide(approval_id, id_nat, CARD, lambda _: decision)

    def _decide(
        self,
        approval_id: str,
        id_nat: str,
        channel: str,
        outcome: Callable[[Approval], dict[str, str]],
    ) -> Approval | None:
        """Apply ``outcome``'s fields to the pending request, in one transaction."""
        now = self._store.clock.now()
        found: list[Approval] = []

        def decide(value: dict) -> None:
            approval = Approval(**value)
            if approval.id_nat == id_nat and approval.channel == channel:
                found.append(approval)
                if approval.status_at(now) == PENDING:
                    value.update(outcome(approval))

        record = self._store.update(APPROVAL, approval_id, decide)
        if not found:
            return None
        before = found[0]
        if before.status_at(now) != PENDING:
            raise NotPending(before, before.status_at(now))
        return self._decided(record)

    def history(self, id_nat: str) -> list[Approval]:
        """The identity's last requests, newest first, as the app's history shows them."""
        record = self._store.get(HISTORY, id_nat)
        return [Approval(**item) for item in reversed(record.value["items"])] if record else []

    def _decided(self, record) -> Approval | None:
        if record is None:
            return None
        approval = Approval(**record.value)
        self._remember(approval)
        return approval

    def _remember(self, approval: Approval) -> None:
        """Keep the request (or its new status) in its identity's short history."""
        item = {**asdict(approval), "csrf": ""}

        def change(value: dict) -> None:
            items = [i for i in value["items"] if i["id"] != approval.id] + [item]
            value["items"] = items[-_HISTORY_SIZE:]

        if self._store.update(HISTORY, approval.id_nat, change, ttl=_HISTORY_TTL) is None:
            self._store.put(HISTORY, approval.id_nat, {"items": [item]}, ttl=_HISTORY_TTL)

    def _save(self, approval: Approval) -> None:
        self._remember(approval)
        self._store.put(
            APPROVAL,
            approval.id,
            asdict(approval),
            ttl=self._lifetime + _GRACE,
            owner=_owner(approval.id_nat, approval.channel),
        )


def _owner(id_nat: str, channel: str) -> str:
    """Approvals are owned by their identity's channel: a channel's newest is one read."""
    return f"{id_nat} {channel}"
