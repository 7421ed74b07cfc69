#!/usr/bin/env python3
"""A TCP relay that breaks one download half-way, as a dying HTTP server would.

    cutting_proxy.py LISTEN_PORT TARGET_PORT CUT_AFTER_BYTES

Listens on 127.0.0.1:LISTEN_PORT and relays each connection to
127.0.0.1:TARGET_PORT. The first answer that grows past CUT_AFTER_BYTES is
aborted there (both sides reset, as when the server is killed); every
connection after that is relayed whole, as from the restarted server.
Prints "PORT n" once listening and "CUT n" when it breaks one.
"""
import socket, struct, sys, threading

listen_port, target_port, cut_after = (int(value) for value in sys.argv[1:4])
state = {"cut": False}
lock = threading.Lock()


def abort(*sockets):
    for s in sockets:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass


def relay(source, destination, answer):
    sent = 0
    try:
        while True:
            data = source.recv(65536)
            if not data:
                destination.shutdown(socket.SHUT_WR)
                return
            if answer:
                with lock:
                    cut = not state["cut"] and sent + len(data) > cut_after
                    state["cut"] = state["cut"] or cut
                if cut:
                    destination.sendall(data[: cut_after - sent])
                    print(f"CUT {cut_after}", flush=True)
                    abort(source, destination)
                    return
            destination.sendall(data)
            sent += len(data)
    except OSError:
        abort(source, destination)


def serve(client):
    try:
        server = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        abort(client)
        return
    threading.Thread(target=relay, args=(client, server, False), daemon=True).start()
    relay(server, client, True)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", listen_port))
listener.listen(16)
print(f"PORT {listen_port}", flush=True)
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
