"""The one network rule every server and proxy of the course follows: loopback only.

A classroom machine should not expose a demo server to the network by
accident, so binding anything but loopback has to be asked for explicitly.
This module has no dependencies, so the ``websockets``-free parts of the
course (``wslearn.scratch``) use it too.
"""

from __future__ import annotations

import ipaddress

__all__ = ["LOOPBACK", "check_loopback"]

LOOPBACK = "127.0.0.1"


def check_loopback(host: str, *, allow_remote: bool = False) -> None:
    """Raise ``ValueError`` unless ``host`` is a loopback address (or ``allow_remote``)."""
    if allow_remote or host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(
        f"refusing to bind {host!r}: course servers listen on loopback only "
        "(pass allow_remote=True to override)"
    )
