"""Which pages have the Debug tab open: an answer redraws Debug only where it can be seen.

Each redraw of the Debug table and timeline while an answer streams cost the app about a tenth of
its CPU at 100 users (the redrawn rows go out as hundreds of small diffs; docs/benchmarks.md), for a
tab most visitors never look at while they read the answer. So a page whose Debug tab is closed gets
Debug's summary, table and timeline once, as the answer starts, and whole at its end; opening the tab
draws them at once, and they follow every update from then on. A caller with no page (the `/chat`
API, the notebook) is always shown everything.

Session ids come from visitors, so the set is bounded: a page pushed out of it is shown everything,
which costs more and is never wrong.

    >>> pages = DebugVisibility(most=2)
    >>> pages.seen("api caller")
    True
    >>> pages.opened("a"); pages.seen("a")
    False
    >>> pages.selected("a", debug=True); pages.seen("a")
    True
    >>> pages.selected("a", debug=False); pages.opened("b"); pages.opened("c"); pages.seen("a")
    True
"""

from __future__ import annotations

from collections import OrderedDict

# Pages remembered with Debug closed: twice the sessions the app keeps by default (MAX_SESSIONS, 5,000).
MOST_PAGES = 10_000


class DebugVisibility:
    """The sessions whose page is open on a tab other than Debug."""

    def __init__(self, most: int = MOST_PAGES) -> None:
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._most = most

    def opened(self, session: str) -> None:
        """A page opened: it starts on the Chat tab, with Debug closed."""
        self.selected(session, debug=False)

    def selected(self, session: str, debug: bool) -> None:
        """The page of `session` switched tabs; `debug`: to the Debug tab."""
        if not session:
            return
        if debug:
            self._closed.pop(session, None)
            return
        self._closed[session] = None
        self._closed.move_to_end(session)
        while len(self._closed) > self._most:
            self._closed.popitem(last=False)

    def seen(self, session: str) -> bool:
        """Whether an answer in `session` is watched in Debug (or has no page to hide it)."""
        return session not in self._closed
