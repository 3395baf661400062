// Command loadgen is the HTTP load generator of the network benchmarks
// (tests/bench): -c connections make GET requests of -url for -d and it
// prints the completed requests per second. With -new every request opens
// a new connection; otherwise each connection is kept alive. With
// -listening PORT it only waits (up to -d) until a TCP socket of its
// network namespace listens on PORT (or, with -gone, until none does),
// reading /proc/net/tcp and tcp6: a test connection would disturb
// servers like iperf3, which take the first connection as a client's.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to GET")
	conns := flag.Int("c", 8, "concurrent connections")
	dur := flag.Duration("d", 3*time.Second, "duration")
	fresh := flag.Bool("new", false, "a new connection for every request")
	listening := flag.Int("listening", 0, "only wait until a socket listens on this TCP port")
	connect := flag.String("connect", "", "only wait until a TCP connection to this HOST:PORT succeeds")
	gone := flag.Bool("gone", false, "with -listening or -connect: wait until it no longer does")
	flag.Parse()
	if *connect != "" {
		// From outside the server's namespace: a server in a sandbox
		// (--network=sandbox) leaves no socket in the host kernel's
		// tables for -listening to find.
		for deadline := time.Now().Add(*dur); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", *connect, time.Second)
			if err == nil {
				c.Close()
			}
			if (err == nil) != *gone {
				if !*gone {
					// A server may take the probe for a client and
					// reset itself (iperf3 -s re-listens after a
					// client that sent nothing): let it.
					time.Sleep(500 * time.Millisecond)
				}
				return
			}
		}
		fmt.Fprintf(os.Stderr, "loadgen: %s: connecting still %v after %v\n", *connect, map[bool]string{false: "fails", true: "works"}[*gone], *dur)
		os.Exit(1)
	}
	if *listening != 0 {
		for deadline := time.Now().Add(*dur); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if isListening(*listening) != *gone {
				return
			}
		}
		fmt.Fprintf(os.Stderr, "loadgen: port %d: listening is still %v after %v\n", *listening, *gone, *dur)
		os.Exit(1)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		fmt.Fprintf(os.Stderr, "loadgen: bad -url %q\n", *target)
		os.Exit(2)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	if *fresh {
		req += "Connection: close\r\n"
	}
	req += "\r\n"
	var done atomic.Int64
	var failed atomic.Value
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var r *bufio.Reader
			for time.Now().Before(stop) {
				if c == nil {
					if c, err = net.Dial("tcp", u.Host); err != nil {
						failed.Store(err)
						return
					}
					r = bufio.NewReader(c)
				}
				if err := roundTrip(c, r, req); err != nil {
					failed.Store(err)
					c.Close()
					return
				}
				done.Add(1)
				if *fresh {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok && done.Load() == 0 {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%.0f\n", float64(done.Load())/dur.Seconds())
}

// roundTrip sends one request and reads a 200 response with a
// Content-Length body.
func roundTrip(c net.Conn, r *bufio.Reader, req string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	status, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(status, " 200 ") {
		return fmt.Errorf("response %q", strings.TrimSpace(status))
	}
	n := -1
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = io.CopyN(io.Discard, r, int64(n))
	return err
}

// isListening reports whether /proc/net/tcp or tcp6 has a socket in
// state LISTEN (0A) on port.
func isListening(port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) > 3 && strings.HasSuffix(fs[1], suffix) && fs[3] == "0A" {
				return true
			}
		}
	}
	return false
}
