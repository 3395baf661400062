// Command inethttp is Go's net/http server and client over loopback, for
// the e2e tests (built static with CGO_ENABLED=0 and as a cgo binary,
// whose resolver is glibc's getaddrinfo).
package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

func main() {
	body := bytes.Repeat([]byte("veil inet "), 100000)
	sum := sha256.Sum256(body)
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		network := "tcp"
		if host == "localhost" {
			network = "tcp4"
		}
		l, err := net.Listen(network, net.JoinHostPort(host, "0"))
		if err != nil {
			fmt.Println("listen", host, err)
			os.Exit(1)
		}
		srv := &http.Server{Handler: mux}
		go srv.Serve(l)
		port := l.Addr().(*net.TCPAddr).Port
		url := fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(port)))
		// Keep-alive requests from several goroutines at once.
		var wg sync.WaitGroup
		results := make([]string, 8)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				resp, err := http.Get(url + "big")
				if err != nil {
					results[i] = err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results[i] = fmt.Sprint(resp.StatusCode, sha256.Sum256(b) == sum)
			}(i)
		}
		wg.Wait()
		resp, err := http.Post(url+"echo", "text/plain", bytes.NewReader(body[:50000]))
		if err != nil {
			fmt.Println("post", host, err)
			os.Exit(1)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(host, results, "echo", bytes.Equal(b, body[:50000]))
		srv.Close()
	}
	ifs, err := net.Interfaces()
	if err != nil {
		fmt.Println("interfaces", err)
		os.Exit(1)
	}
	for _, ifc := range ifs {
		addrs, _ := ifc.Addrs()
		fmt.Println("interface", ifc.Index, ifc.Name, ifc.MTU, ifc.Flags, addrs)
	}
}
