package shim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/veil-sandbox/veil/runsc/boot"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Config is how the shim runs containers: containerd's runtime options
// and the TOML file they name (ConfigPath), as gVisor's shim reads them:
//
//	binary_name = "/usr/local/bin/runsc"
//	root = "/run/containerd/runsc"
//	log_level = "debug"
//	[runsc_config]
//	platform = "ptrace"
//	debug = "true"
type Config struct {
	// Binary is the runsc executable that runs the sandbox (runsc boot
	// and runsc gofer).
	Binary string `json:"binary"`
	// Root is runsc's state directory (--root).
	Root     string `json:"root"`
	LogLevel string `json:"log_level,omitempty"`
	// Runsc are runsc's global flags, by name without dashes.
	Runsc map[string]string `json:"runsc_config,omitempty"`
}

// runscFlags are the runsc global flags [runsc_config] may set.
var runscFlags = map[string]bool{
	"platform": false, "network": false, "debug": true, "strace": true,
	"overlay": true, "systemd-cgroup": true, "net-raw": true,
}

// Type URLs of the runtime options containerd may pass.
const (
	runtimeOptionsType = "runtimeoptions.v1.Options"
	runcOptionsType    = "containerd.runc.v1.Options"
)

// defaultRoot is runsc's --root for namespace ns when none is configured:
// under containerd's own state directory, as gVisor's shim does.
func defaultRoot(ns string) string { return filepath.Join("/run/containerd/runsc", ns) }

// configFromOptions reads the runtime options (nil: none) of a container
// in namespace ns.
func configFromOptions(opts *anypb.Any, ns string) (*Config, error) {
	cfg := &Config{Runsc: map[string]string{}}
	if opts != nil && len(opts.GetValue()) > 0 {
		typ := opts.GetTypeUrl()
		typ = typ[strings.LastIndex(typ, "/")+1:]
		switch typ {
		case runtimeOptionsType:
			var o runtimeoptions.Options
			if err := proto.Unmarshal(opts.GetValue(), &o); err != nil {
				return nil, fmt.Errorf("runtime options: %w", err)
			}
			body := o.ConfigBody
			if o.ConfigPath != "" {
				b, err := os.ReadFile(o.ConfigPath)
				if err != nil {
					return nil, fmt.Errorf("runtime options: config file: %w", err)
				}
				body = b
			}
			if err := cfg.parseTOML(body, o.ConfigPath); err != nil {
				return nil, err
			}
		case runcOptionsType:
			var o runcoptions.Options
			if err := proto.Unmarshal(opts.GetValue(), &o); err != nil {
				return nil, fmt.Errorf("runtime options: %w", err)
			}
			cfg.Binary, cfg.Root = o.BinaryName, o.Root
			if o.SystemdCgroup {
				cfg.Runsc["systemd-cgroup"] = "true"
			}
		default:
			return nil, fmt.Errorf("runtime options of type %q are not supported (want %s)", opts.GetTypeUrl(), runtimeOptionsType)
		}
	}
	if cfg.Root == "" {
		cfg.Root = defaultRoot(ns)
	}
	bin, err := findRunsc(cfg.Binary)
	if err != nil {
		return nil, err
	}
	cfg.Binary = bin
	return cfg, cfg.check()
}

// findRunsc resolves binary_name: a path, a name in PATH, or by default
// runsc next to the shim's own executable, else in PATH.
func findRunsc(name string) (string, error) {
	if name == "" {
		if self, err := os.Executable(); err == nil {
			p := filepath.Join(filepath.Dir(self), "runsc")
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
		name = "runsc"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("binary_name %q: %w", name, err)
	}
	return filepath.Abs(p)
}

func (c *Config) check() error {
	var keys []string
	for k := range c.Runsc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c.Runsc[k]
		isBool, ok := runscFlags[k]
		if !ok {
			return fmt.Errorf("runsc_config: unknown or unsupported runsc flag %q", k)
		}
		if isBool {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("runsc_config: %s = %q: want true or false", k, v)
			}
		}
	}
	if p := c.platform(); p != "" {
		if err := boot.CheckPlatform(p); err != nil {
			return fmt.Errorf("runsc_config: %w", err)
		}
	}
	if err := boot.CheckNetwork(c.Runsc["network"]); err != nil {
		return fmt.Errorf("runsc_config: %w", err)
	}
	switch c.LogLevel {
	case "", "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func (c *Config) flag(name string) bool {
	b, _ := strconv.ParseBool(c.Runsc[name])
	return b
}

// platform is the configured platform, "" for runsc's default.
func (c *Config) platform() string { return c.Runsc["platform"] }

// parseTOML reads the subset of TOML the shim's config file uses: tables,
// and keys whose values are strings, booleans or integers (all kept as
// strings, since they become command line flags).
func (c *Config) parseTOML(b []byte, name string) error {
	if name == "" {
		name = "config_body"
	}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripComment(sc.Text()))
		if line == "" {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s:%d: %s: %q", name, n, why, line) }
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") || strings.HasPrefix(line, "[[") {
				return bad("bad table header")
			}
			table = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return bad("want key = value")
		}
		k = strings.Trim(strings.TrimSpace(k), `"`)
		val, err := tomlValue(strings.TrimSpace(v))
		if err != nil {
			return bad(err.Error())
		}
		switch table {
		case "":
			switch k {
			case "binary_name":
				c.Binary = val
			case "root":
				c.Root = val
			case "log_level":
				c.LogLevel = val
			case "log_path", "runtime_root":
				// gVisor's options the shim does without: its log is
				// containerd's shim log.
			default:
				return bad("unknown key " + strconv.Quote(k))
			}
		case "runsc_config":
			c.Runsc[k] = val
		default:
			return bad("unknown table " + strconv.Quote(table))
		}
	}
	return sc.Err()
}

// stripComment drops a # comment outside a string.
func stripComment(s string) string {
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case quote != 0 && ch == '\\' && quote == '"':
			i++
		case quote != 0 && ch == quote:
			quote = 0
		case quote == 0 && (ch == '"' || ch == '\''):
			quote = ch
		case quote == 0 && ch == '#':
			return s[:i]
		}
	}
	return s
}

func tomlValue(v string) (string, error) {
	switch {
	case v == "":
		return "", errors.New("missing value")
	case strings.HasPrefix(v, `"`):
		s, err := strconv.Unquote(v)
		if err != nil {
			return "", errors.New("bad string")
		}
		return s, nil
	case strings.HasPrefix(v, "'"):
		if len(v) < 2 || !strings.HasSuffix(v, "'") || strings.Contains(v[1:len(v)-1], "'") {
			return "", errors.New("bad string")
		}
		return v[1 : len(v)-1], nil
	case v == "true" || v == "false":
		return v, nil
	}
	if _, err := strconv.ParseInt(v, 0, 64); err == nil {
		return v, nil
	}
	return "", errors.New("unsupported value (want a string, boolean or integer)")
}
