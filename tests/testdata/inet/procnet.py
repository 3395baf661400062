# /proc/net/tcp and tcp6 list a listening socket with the inode of its
# descriptor; udp lists a bound UDP socket.
import os, socket

def find(path, port, state):
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for l in lines[1:]:
        fields = l.split()
        local, st, inode = fields[1], fields[3], int(fields[9])
        if local.endswith(":%04X" % port) and st == state:
            out.append((local, inode))
    return lines[0].split()[:4], out

l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(5)
port = l.getsockname()[1]
hdr, rows = find("/proc/net/tcp", port, "0A")
print("tcp", hdr, [(a.split(":")[0], i == os.fstat(l.fileno()).st_ino) for a, i in rows])

l6 = socket.socket(socket.AF_INET6)
l6.bind(("::1", 0))
l6.listen(5)
port6 = l6.getsockname()[1]
hdr, rows = find("/proc/net/tcp6", port6, "0A")
print("tcp6", [(a.split(":")[0], i == os.fstat(l6.fileno()).st_ino) for a, i in rows])

c = socket.create_connection(("127.0.0.1", port))
a, _ = l.accept()
_, est = find("/proc/net/tcp", c.getsockname()[1], "01")
print("established client", len(est))

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
hdr, rows = find("/proc/net/udp", u.getsockname()[1], "07")
print("udp", [i == os.fstat(u.fileno()).st_ino for _, i in rows])
with open("/proc/net/dev") as f:
    print("dev", [l.split(":")[0].strip() for l in f.read().splitlines()[2:]])
with open("/proc/net/if_inet6") as f:
    print("if_inet6", f.read().split())
with open("/proc/net/route") as f:
    print("route", f.read().splitlines()[1:])
