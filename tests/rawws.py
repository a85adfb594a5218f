"""The raw peer for tests that import it from here: it lives in :mod:`wslearn.raw`."""

from wslearn.raw import READ_SIZE, TIMEOUT, RawWebSocket, read_head, read_to_eof, tcp

__all__ = ["READ_SIZE", "TIMEOUT", "RawWebSocket", "read_head", "read_to_eof", "tcp"]
