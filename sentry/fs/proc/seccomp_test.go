package proc

import (
	"strings"
	"testing"
)

func TestStatusSeccomp(t *testing.T) {
	for _, c := range []struct {
		mode, filters int
		want          string
	}{
		{0, 0, "NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"},
		{1, 0, "Seccomp:\t1\nSeccomp_filters:\t0\n"},
		{2, 3, "Seccomp:\t2\nSeccomp_filters:\t3\nSpeculation_Store_Bypass:"},
	} {
		if s := taskStatusText(&taskInfo{seccompMode: c.mode, seccompFilters: c.filters}); !strings.Contains(s, c.want) {
			t.Errorf("mode %d, %d filters: status lacks %q:\n%s", c.mode, c.filters, c.want, s)
		}
	}
}
