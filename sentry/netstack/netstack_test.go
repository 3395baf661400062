package netstack

import (
	"io"
	"reflect"
	"testing"

	"github.com/veil-sandbox/veil/sentry/socket"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

func newStack(t *testing.T) *Netstack {
	t.Helper()
	ns, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return ns
}

// A new stack shows exactly what Linux shows for a fresh namespace with
// lo up (socket.Loopback is that view, checked against Linux by the
// netlink tests).
func TestLoopbackMatchesLinux(t *testing.T) {
	ns := newStack(t)
	if got, want := ns.Interfaces(), (socket.Loopback{}).Interfaces(); !reflect.DeepEqual(got, want) {
		t.Errorf("interfaces:\n got %+v\nwant %+v", got, want)
	}
	if got, want := ns.Routes(), (socket.Loopback{}).Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("routes:\n got %+v\nwant %+v", got, want)
	}
}

func TestAttach(t *testing.T) {
	st := socket.NewStack()
	ns, err := Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if Of(st) != ns || st.Network() != socket.Network(ns) {
		t.Fatal("Attach did not make the Netstack the stack's engine and network")
	}
	if Of(socket.NewStack()) != nil {
		t.Fatal("a stack without engine has a Netstack")
	}
}

func TestTCPOverLoopback(t *testing.T) {
	ns := newStack(t)
	for _, tc := range []struct {
		name  string
		addr  tcpip.Address
		proto tcpip.NetworkProtocolNumber
	}{
		{"v4", tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), ipv4.ProtocolNumber},
		{"v6", tcpip.AddrFrom16([16]byte{15: 1}), ipv6.ProtocolNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := gonet.ListenTCP(ns.Stack, tcpip.FullAddress{Addr: tc.addr, Port: 8080}, tc.proto)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				io.Copy(c, c)
			}()
			c, err := gonet.DialTCP(ns.Stack, tcpip.FullAddress{Addr: tc.addr, Port: 8080}, tc.proto)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := []byte("hello over lo")
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
				t.Fatalf("echo: %q, %v", got, err)
			}
		})
	}
}

// An address added to a NIC after New shows up in Interfaces and as
// local routes: the view is the stack's, not a copy.
func TestAddedAddressShows(t *testing.T) {
	ns := newStack(t)
	a := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 2}), PrefixLen: 32}}
	if err := ns.Stack.AddProtocolAddress(LoopbackNIC, a, stackProps()); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ia := range ns.Interfaces()[0].Addrs {
		if reflect.DeepEqual(ia.Addr, []byte{127, 0, 0, 2}) {
			found = true
		}
	}
	if !found {
		t.Fatalf("127.0.0.2 not listed: %+v", ns.Interfaces())
	}
}

func stackProps() stack.AddressProperties { return stack.AddressProperties{} }
