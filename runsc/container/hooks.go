package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultHookTimeout bounds a hook without a timeout of its own.
const defaultHookTimeout = 2 * time.Minute

// runHooks runs the OCI hooks of one lifecycle point on the host, each
// with the container's state on stdin, in order; the first failure stops
// them. All hooks run in runsc's own (host) namespaces: the container's
// namespaces exist only inside the Sentry, so createContainer and
// startContainer hooks cannot enter them.
func runHooks(point string, hooks []specs.Hook, st specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		timeout := defaultHookTimeout
		if h.Timeout != nil {
			if *h.Timeout <= 0 {
				return fmt.Errorf("%s hook %s: timeout must be positive", point, h.Path)
			}
			timeout = time.Duration(*h.Timeout) * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		cmd := exec.CommandContext(ctx, h.Path)
		if len(h.Args) > 0 {
			cmd.Args = h.Args
		}
		cmd.Env = h.Env
		cmd.Stdin = bytes.NewReader(in)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s hook %s timed out after %v", point, h.Path, timeout)
		}
		if err != nil {
			msg := strings.TrimSpace(out.String())
			if msg != "" {
				msg = ": " + strings.ReplaceAll(msg, "\n", "; ")
			}
			return fmt.Errorf("%s hook %s failed: %v%s", point, h.Path, err, msg)
		}
	}
	return nil
}
