# asyncio streams: a TCP server on 127.0.0.1 and ::1, clients in
# subprocesses and in the same loop.
import asyncio, sys

CLIENT = r'''
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"client%s\n" % sys.argv[3].encode())
print(s.makefile().readline().strip())
'''

async def handle(reader, writer):
    data = await reader.readline()
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()

async def main():
    for host in ["127.0.0.1", "::1"]:
        server = await asyncio.start_server(handle, host, 0)
        port = server.sockets[0].getsockname()[1]
        procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, host, str(port), str(i),
                                                       stdout=asyncio.subprocess.PIPE) for i in range(4)]
        outs = [(await p.communicate())[0].decode().strip() for p in procs]
        print(host, sorted(outs), [p.returncode for p in procs])
        r, w = await asyncio.open_connection(host, port)
        w.write(b"inproc\n")
        await w.drain()
        print(host, (await r.readline()).decode().strip())
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()
    # A UDP datagram endpoint.
    loop = asyncio.get_running_loop()
    got = loop.create_future()

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, t):
            self.t = t

        def datagram_received(self, data, addr):
            self.t.sendto(data[::-1], addr)

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            got.set_result(data)

    st, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=st.get_extra_info("sockname"))
    ct.sendto(b"olleh")
    print("udp", await asyncio.wait_for(got, 10))
    ct.close()
    st.close()

asyncio.run(main())
