// Command gonet exercises Go's net package over unix sockets and netlink:
// net/http served and fetched through a unix socket, unixgram and
// unixpacket sockets, descriptor passing with net.UnixConn, and the
// interface list Go reads with netlink. It prints deterministic lines
// ending in "gonet: ok"; run it with a writable directory as its
// argument, in a network namespace that has only lo.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonet: FAIL %s: %v\n", what, err)
		os.Exit(99)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gonet DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	httpOverUnix(filepath.Join(dir, "http.sock"))
	datagrams(filepath.Join(dir, "dgram.sock"))
	packets(filepath.Join(dir, "packet.sock"))
	passFile()
	interfaces()
	fmt.Println("gonet: ok")
}

func httpOverUnix(path string) {
	l, err := net.Listen("unix", path)
	check(err, "listen unix")
	mux := http.NewServeMux()
	mux.HandleFunc("/hello/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", strings.TrimPrefix(r.URL.Path, "/hello/"))
	})
	srv := &http.Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	var mu sync.Mutex
	var bodies []string
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("http://unix/hello/%02d", i))
			check(err, "GET")
			b, err := io.ReadAll(resp.Body)
			check(err, "read body")
			resp.Body.Close()
			mu.Lock()
			bodies = append(bodies, fmt.Sprintf("%d %s", resp.StatusCode, b))
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Strings(bodies)
	fmt.Println("http:", len(bodies), "responses, first", bodies[0], "last", bodies[len(bodies)-1])
	check(srv.Close(), "close server")
	fmt.Println("serve returned:", <-done == http.ErrServerClosed)
	_, err = os.Stat(path)
	fmt.Println("socket file removed on close:", os.IsNotExist(err))
}

func datagrams(path string) {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	check(err, "listen unixgram")
	defer c.Close()
	s, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	check(err, "dial unixgram")
	for _, m := range []string{"one", "two", "three"} {
		_, err := s.Write([]byte(m))
		check(err, "write datagram")
	}
	buf := make([]byte, 16)
	var got []string
	for i := 0; i < 3; i++ {
		n, _, err := c.ReadFromUnix(buf)
		check(err, "read datagram")
		got = append(got, string(buf[:n]))
	}
	fmt.Println("unixgram:", strings.Join(got, ","))
	s.Close()
	os.Remove(path)
}

func packets(path string) {
	l, err := net.Listen("unixpacket", path)
	check(err, "listen unixpacket")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		check(err, "accept unixpacket")
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				c.Close()
				return
			}
			c.Write([]byte(strings.ToUpper(string(buf[:n]))))
		}
	}()
	c, err := net.Dial("unixpacket", path)
	check(err, "dial unixpacket")
	buf := make([]byte, 64)
	var got []string
	for _, m := range []string{"ab", "cde"} {
		_, err := c.Write([]byte(m))
		check(err, "write packet")
		n, err := c.Read(buf)
		check(err, "read packet")
		got = append(got, string(buf[:n]))
	}
	fmt.Println("unixpacket:", strings.Join(got, ","))
	c.Close()
}

func passFile() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	check(err, "socketpair")
	a, err := net.FileConn(os.NewFile(uintptr(fds[0]), "a"))
	check(err, "file conn a")
	b, err := net.FileConn(os.NewFile(uintptr(fds[1]), "b"))
	check(err, "file conn b")
	r, w, err := os.Pipe()
	check(err, "pipe")
	_, _, err = a.(*net.UnixConn).WriteMsgUnix([]byte("f"), syscall.UnixRights(int(w.Fd())), nil)
	check(err, "send fd")
	w.Close()
	buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := b.(*net.UnixConn).ReadMsgUnix(buf, oob)
	check(err, "recv fd")
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	check(err, "parse control")
	got, err := syscall.ParseUnixRights(&msgs[0])
	check(err, "parse rights")
	pw := os.NewFile(uintptr(got[0]), "passed")
	pw.Write([]byte("via a passed descriptor"))
	pw.Close()
	data, _ := io.ReadAll(r)
	fmt.Println("passed:", string(data))
}

func interfaces() {
	ifs, err := net.Interfaces()
	check(err, "interfaces")
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		check(err, "addrs")
		fmt.Println("interface:", ifc.Index, ifc.Name, ifc.MTU, ifc.Flags, addrs)
	}
	lo, err := net.InterfaceByName("lo")
	check(err, "interface by name")
	fmt.Println("lo index:", lo.Index)
}
