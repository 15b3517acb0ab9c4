"""``btsplan serve`` turns Nagle's algorithm off on every connection (multi-worker uvicorn does not)."""

from __future__ import annotations

import socket

from app.serving import HTTP_PROTOCOL, NoDelayH11Protocol, set_nodelay


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


def test_accepted_sockets_get_tcp_nodelay() -> None:
    # a socket created like uvicorn's multi-worker listener: SOCK_STREAM with protocol 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname()) as _client:
            conn, _ = listener.accept()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                set_nodelay(_Transport(conn))  # type: ignore[arg-type]
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_protocol_is_importable_by_uvicorn_workers() -> None:
    from uvicorn.importer import import_from_string

    from app import serving

    assert import_from_string(HTTP_PROTOCOL) is getattr(serving, HTTP_PROTOCOL.split(":")[1])
    assert issubclass(import_from_string("app.serving:NoDelayH11Protocol"), NoDelayH11Protocol)
