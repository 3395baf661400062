package gofer

import (
	"strings"
	"testing"
)

// The test runs in its parent's mount namespace: a gofer there must
// refuse to pivot.
func TestCheckPrivateMountNSRefusesParentsNamespace(t *testing.T) {
	err := checkPrivateMountNS()
	if err == nil || !strings.Contains(err.Error(), "not in a private mount namespace") {
		t.Errorf("checkPrivateMountNS in the parent's namespace: %v, want a refusal", err)
	}
}
