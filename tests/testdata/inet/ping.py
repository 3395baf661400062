# Ping sockets (open to every group in the sandbox) and raw sockets
# (only with --net-raw).
import socket, struct

# Ping sockets.
p = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
p.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"ping", ("127.0.0.1", 0))
reply = p.recv(100)
print("ping reply", reply[0], reply[8:])

# Raw sockets need --net-raw.
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("raw ok")
except OSError as e:
    print("raw", e.errno)
