"""The transfer lifecycle: which state may follow which.

    sent -> received (first read by the receiver) -> acknowledged -> accepted | declined
                                                                   | partially_accepted
    sent | received | acknowledged -> withdrawn (by the sender) | superseded (by an update)

A sibling group is accepted or declined child by child; the transfer's outcome follows when
every child is decided (all accepted, all declined, or partially accepted).
"""

from __future__ import annotations

from exchange.transfers.schemas import TransferStatus as S

OPEN = frozenset({S.SENT, S.RECEIVED, S.ACKNOWLEDGED})
TERMINAL = frozenset({S.ACCEPTED, S.PARTIALLY_ACCEPTED, S.DECLINED, S.WITHDRAWN, S.SUPERSEDED})

TRANSITIONS: dict[S, frozenset[S]] = {
    S.SENT: frozenset({S.RECEIVED, S.WITHDRAWN, S.SUPERSEDED}),
    S.RECEIVED: frozenset({S.ACKNOWLEDGED, S.WITHDRAWN, S.SUPERSEDED}),
    S.ACKNOWLEDGED: frozenset(
        {S.ACCEPTED, S.PARTIALLY_ACCEPTED, S.DECLINED, S.WITHDRAWN, S.SUPERSEDED}
    ),
}


def allowed(current: S, to: S) -> bool:
    """Whether a transfer in ``current`` may move to ``to``."""
    return to in TRANSITIONS.get(current, frozenset())
