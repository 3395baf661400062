// Package dockerconfig registers and removes runtimes in docker's
// daemon.json, keeping everything else in the file as the user wrote it.
package dockerconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultPath is where dockerd reads its configuration.
const DefaultPath = "/etc/docker/daemon.json"

// Runtime is one entry of daemon.json's "runtimes".
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// config is daemon.json with every key but "runtimes" kept verbatim, and
// every runtime but the one being changed too.
type config struct {
	keys     map[string]json.RawMessage
	runtimes map[string]json.RawMessage
	mode     fs.FileMode
}

func load(path string) (*config, error) {
	c := &config{keys: map[string]json.RawMessage{}, runtimes: map[string]json.RawMessage{}, mode: 0o644}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, err
	}
	if st, err := os.Stat(path); err == nil {
		c.mode = st.Mode().Perm()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(data, &c.keys); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %v", path, err)
	}
	if raw, ok := c.keys["runtimes"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c.runtimes); err != nil {
			return nil, fmt.Errorf("%s: \"runtimes\" is not a JSON object: %v", path, err)
		}
	}
	return c, nil
}

// save writes the file atomically, so that dockerd never reads half of
// it and a failure leaves the old one.
func (c *config) save(path string) error {
	if len(c.runtimes) == 0 {
		delete(c.keys, "runtimes")
	} else {
		raw, err := json.Marshal(c.runtimes)
		if err != nil {
			return err
		}
		c.keys["runtimes"] = raw
	}
	data, err := json.MarshalIndent(c.keys, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(c.mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// AddRuntime registers rt as runtime name in the daemon.json at path
// (created if missing), replacing an entry of that name. It reports
// whether an entry was replaced.
func AddRuntime(path, name string, rt Runtime) (replaced bool, err error) {
	c, err := load(path)
	if err != nil {
		return false, err
	}
	raw, err := json.Marshal(rt)
	if err != nil {
		return false, err
	}
	_, replaced = c.runtimes[name]
	c.runtimes[name] = raw
	if err := c.save(path); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return replaced, nil
}

// RemoveRuntime removes runtime name from the daemon.json at path, and
// "default-runtime" if it names it (dockerd would not start with a
// default it does not know). It reports what it removed; a file or
// runtime that is not there is not an error.
func RemoveRuntime(path, name string) (removed, wasDefault bool, err error) {
	c, err := load(path)
	if err != nil {
		return false, false, err
	}
	if _, ok := c.runtimes[name]; !ok {
		return false, false, nil
	}
	delete(c.runtimes, name)
	if raw, ok := c.keys["default-runtime"]; ok {
		var def string
		if json.Unmarshal(raw, &def) == nil && def == name {
			delete(c.keys, "default-runtime")
			wasDefault = true
		}
	}
	if err := c.save(path); err != nil {
		return false, false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, wasDefault, nil
}
