"""Counting the HTTP requests a WinRM client sends.

Counted on the client, by a ``requests`` response hook on pywinrm's session, so the same
count works against any host; tests check it against the sim's own request log
(``WinRMServer.request_count``).
"""

from __future__ import annotations

import threading

from winrm.protocol import Protocol


class RequestCounter:
    """Counts responses received by the pywinrm protocols it is attached to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def attach(self, protocol: Protocol) -> Protocol:
        """Count every response ``protocol`` receives from now on.

        pywinrm builds its ``requests`` session lazily and drops it when a shell is closed
        with ``close_session=True`` (what ``Session.run_cmd`` does per command), so the hook
        is added to every session the transport builds.
        """
        transport = protocol.transport
        build = transport.build_session

        def build_counted():
            session = build()
            hooks = session.hooks.setdefault("response", [])
            if self._hook not in hooks:
                hooks.append(self._hook)
            return session

        transport.build_session = build_counted  # type: ignore[method-assign]
        return protocol

    def _hook(self, response, *args, **kwargs):
        with self._lock:
            self.count += 1
        return response

    def reset(self) -> int:
        with self._lock:
            n, self.count = self.count, 0
        return n
