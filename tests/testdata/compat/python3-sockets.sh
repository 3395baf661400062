# python3 over unix sockets: a socket pair, a stream server with a client
# thread, datagrams, descriptors passed with SCM_RIGHTS, and asyncio
# (whose event loop wakes itself through a socket pair).
/usr/bin/python3 - <<'PY'
import os, socket, threading, array, asyncio
a, b = socket.socketpair()
a.sendall(b"pair"); print(b.recv(4)); a.close(); b.close()
path = os.path.join(os.environ["D"], "s.sock")
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srv.bind(path); srv.listen(1)
def client():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.connect(path); c.sendall(b"hello server"); print(c.recv(100)); c.close()
t = threading.Thread(target=client); t.start()
conn, _ = srv.accept(); print(conn.recv(100)); conn.sendall(b"hello client"); t.join(); conn.close(); srv.close()
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"one"); d1.send(b"two"); print(d2.recv(10), d2.recv(10))
r, w = os.pipe(); os.write(w, b"through a passed fd")
d1.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
msg, anc, flags, addr = d2.recvmsg(1, socket.CMSG_LEN(4))
fd = array.array("i", anc[0][2])[0]; print(msg, os.read(fd, 100))
async def main():
    proc = await asyncio.create_subprocess_exec("/bin/echo", "async", stdout=asyncio.subprocess.PIPE)
    o, _ = await proc.communicate()
    await asyncio.sleep(0.01)
    return o.decode().strip()
print(asyncio.run(main()))
PY
