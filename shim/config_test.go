package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fakeRunsc is an executable standing for runsc (the options resolve
// binary_name to a real file).
func fakeRunsc(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "runsc")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func anyOf(t *testing.T, typ string, m proto.Message) *anypb.Any {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return &anypb.Any{TypeUrl: typ, Value: b}
}

func TestConfigFromTOMLFile(t *testing.T) {
	bin := fakeRunsc(t)
	path := filepath.Join(t.TempDir(), "runsc.toml")
	conf := `# gVisor-style shim config
binary_name = "` + bin + `"
root = '/run/veil-test'   # literal string
log_level = "debug"

[runsc_config]
  platform = "ptrace"
  debug = true
  overlay = "false"
  network = "none"
  net-raw = "true"  # as runsc install --containerd -- --net-raw prints it
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := configFromOptions(anyOf(t, runtimeOptionsType, &runtimeoptions.Options{ConfigPath: path}), "ns")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Binary != bin || cfg.Root != "/run/veil-test" || cfg.LogLevel != "debug" {
		t.Errorf("got binary %q root %q log_level %q", cfg.Binary, cfg.Root, cfg.LogLevel)
	}
	o := cfg.createOptions(nil, "/b", "/b/rootfs")
	if !o.Debug || o.Overlay || o.Network != "none" || !o.NetRaw || o.Binary != bin || !o.Detach {
		t.Errorf("create options %+v", o)
	}
	if got := strings.Join(o.LogArgs, " "); got != "--log-format text --platform ptrace --debug" {
		t.Errorf("sandbox flags %q", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	bin := fakeRunsc(t)
	t.Setenv("PATH", filepath.Dir(bin))
	cfg, err := configFromOptions(nil, "k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root != "/run/containerd/runsc/k8s.io" || cfg.Binary != bin {
		t.Errorf("defaults: root %q binary %q", cfg.Root, cfg.Binary)
	}
	o := cfg.createOptions(nil, "/b", "/b/rootfs")
	if o.Network != "sandbox" || strings.Contains(strings.Join(o.LogArgs, " "), "--platform") {
		t.Errorf("defaults: network %q, flags %q (the platform is runsc's own default)", o.Network, o.LogArgs)
	}
}

func TestConfigRuncOptions(t *testing.T) {
	bin := fakeRunsc(t)
	cfg, err := configFromOptions(anyOf(t, "type.googleapis.com/"+runcOptionsType, &runcoptions.Options{BinaryName: bin, Root: "/r"}), "ns")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Binary != bin || cfg.Root != "/r" {
		t.Errorf("runc options: binary %q root %q", cfg.Binary, cfg.Root)
	}
}

func TestConfigErrors(t *testing.T) {
	bin := fakeRunsc(t)
	for name, body := range map[string]string{
		"unknown key":       "colour = \"blue\"",
		"unknown table":     "[runsc]\nplatform = \"ptrace\"",
		"unknown flag":      "[runsc_config]\nno-such-flag = \"1\"",
		"bad bool":          "[runsc_config]\ndebug = \"yes please\"",
		"bad platform":      "[runsc_config]\nplatform = \"kvm9\"",
		"bad network":       "[runsc_config]\nnetwork = \"bridge\"",
		"bad log level":     "log_level = \"loud\"",
		"unterminated":      "root = \"/x",
		"array":             "root = [\"/x\"]",
		"no value":          "root =",
		"missing binary":    "binary_name = \"/nonexistent/runsc\"",
		"array of tables":   "[[runsc_config]]",
		"not key and value": "just words",
	} {
		body := body
		if !strings.Contains(body, "binary_name") {
			body = "binary_name = \"" + bin + "\"\n" + body
		}
		_, err := configFromOptions(anyOf(t, runtimeOptionsType, &runtimeoptions.Options{ConfigBody: []byte(body)}), "ns")
		if err == nil {
			t.Errorf("%s: %q accepted", name, body)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
	if _, err := configFromOptions(&anypb.Any{TypeUrl: "example.com/Other", Value: []byte{1}}, "ns"); err == nil {
		t.Error("options of an unknown type accepted")
	}
	if _, err := configFromOptions(anyOf(t, runtimeOptionsType, &runtimeoptions.Options{ConfigPath: "/nonexistent.toml"}), "ns"); err == nil {
		t.Error("a missing config file accepted")
	}
}

func TestStartFlags(t *testing.T) {
	action, f, ok := parseStartFlags([]string{"-namespace", "ns", "-address", "/run/c.sock", "-publish-binary", "/bin/x", "-id", "c1", "-debug", "start"})
	if !ok || action != "start" || f.namespace != "ns" || f.id != "c1" || f.address != "/run/c.sock" || !f.debug {
		t.Errorf("got %q %+v %v", action, f, ok)
	}
	if _, _, ok := parseStartFlags([]string{"-no-such-flag"}); ok {
		t.Error("an unknown flag parsed")
	}
}
