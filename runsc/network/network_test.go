package network

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netns makes a network namespace with a veth pair to a second one: eth0
// with 10.213.250.2/24 and fd00:213::2/64, a default route via .1 and a
// route to 192.168.213.0/24 via .3; t.Cleanup deletes both.
func netns(t *testing.T) (path, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("needs iproute2's ip: %v", err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	n := hex.EncodeToString(b)
	s, c := "veil-test-"+n+"-s", "veil-test-"+n+"-c"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", s)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", s).Run() })
	ip("netns", "add", c)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", c).Run() })
	ip("link", "add", "vs"+n, "netns", s, "mtu", "1400", "type", "veth", "peer", "name", "vc"+n, "netns", c)
	ip("-n", s, "link", "set", "vs"+n, "name", "eth0")
	ip("-n", s, "link", "set", "eth0", "address", "02:13:00:00:00:02")
	ip("-n", s, "addr", "add", "10.213.250.2/24", "dev", "eth0")
	ip("-n", s, "addr", "add", "fd00:213::2/64", "dev", "eth0", "nodad")
	ip("-n", s, "link", "set", "eth0", "up")
	ip("-n", s, "route", "add", "default", "via", "10.213.250.1")
	ip("-n", s, "route", "add", "192.168.213.0/24", "via", "10.213.250.3")
	return "/run/netns/" + s, s
}

func TestTakeReadsInterfaceAndRemovesAddresses(t *testing.T) {
	path, name := netns(t)
	ifs, files, err := Take(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if len(ifs) != 1 || len(files) != 1 {
		t.Fatalf("Take: %d interfaces, %d sockets; want eth0 alone: %+v", len(ifs), len(files), ifs)
	}
	ifc := ifs[0]
	if ifc.Name != "eth0" || ifc.MAC != "02:13:00:00:00:02" || ifc.MTU != 1400 {
		t.Errorf("eth0 read as %s %s mtu %d", ifc.Name, ifc.MAC, ifc.MTU)
	}
	want4 := netip.MustParsePrefix("10.213.250.2/24")
	want6 := netip.MustParsePrefix("fd00:213::2/64")
	var has4, has6 bool
	for _, a := range ifc.Addrs {
		has4 = has4 || a == want4
		has6 = has6 || a == want6
	}
	if !has4 || !has6 {
		t.Errorf("addresses %v lack %s or %s", ifc.Addrs, want4, want6)
	}
	routes := map[string]string{}
	for _, r := range ifc.Routes {
		gw := ""
		if r.Gateway.IsValid() {
			gw = r.Gateway.String()
		}
		routes[r.Dst.String()] = gw
	}
	for dst, gw := range map[string]string{"0.0.0.0/0": "10.213.250.1", "192.168.213.0/24": "10.213.250.3", "10.213.250.0/24": ""} {
		if got, ok := routes[dst]; !ok || got != gw {
			t.Errorf("route %s via %q missing (routes: %v)", dst, gw, routes)
		}
	}
	// The host kernel keeps neither the addresses nor their routes.
	out, err := exec.Command("ip", "-n", name, "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || strings.Contains(string(out), "inet") {
		t.Errorf("eth0 after Take (%v):\n%s", err, out)
	}
	out, err = exec.Command("ip", "-n", name, "-4", "route", "show").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("IPv4 routes after Take (%v):\n%s", err, out)
	}
	// The socket is an AF_PACKET socket bound to eth0.
	out, _ = exec.Command("ip", "netns", "exec", name, "cat", "/proc/net/packet").CombinedOutput()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 2 {
		t.Errorf("/proc/net/packet of the namespace:\n%s", out)
	}
}

func TestTakeMissingNamespace(t *testing.T) {
	_, _, err := Take("/run/netns/veil-test-does-not-exist")
	if err == nil || !strings.Contains(err.Error(), "/run/netns/veil-test-does-not-exist") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Take of a missing namespace: %v", err)
	}
}

func TestGiveBackRestoresAddressesAndRoutes(t *testing.T) {
	path, name := netns(t)
	ifs, files, err := Take(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		f.Close()
	}
	if err := GiveBack(path, ifs); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "-n", name, "addr", "show", "dev", "eth0").CombinedOutput()
	for _, want := range []string{"inet 10.213.250.2/24", "inet6 fd00:213::2/64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("eth0 after GiveBack lacks %s:\n%s", want, out)
		}
	}
	out, _ = exec.Command("ip", "-n", name, "-4", "route", "show").CombinedOutput()
	for _, want := range []string{"default via 10.213.250.1 dev eth0", "192.168.213.0/24 via 10.213.250.3 dev eth0", "10.213.250.0/24 dev eth0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("routes after GiveBack lack %q:\n%s", want, out)
		}
	}
}
