package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestFingerprintsOneLinePerNetns(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	var out bytes.Buffer
	Fingerprints("nft", strings.NewReader(missing+"\n\n"), &out)
	if !strings.HasPrefix(out.String(), missing+"\terror: open "+missing) || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("got %q", out.String())
	}
	if os.Geteuid() != 0 {
		t.Skip("entering a netns needs CAP_SYS_ADMIN")
	}
	// Our own netns, twice: the same fingerprint (nothing changed in between), in the documented shape.
	out.Reset()
	Fingerprints("plain", strings.NewReader("/proc/self/ns/net\n/proc/self/ns/net\n"), &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || lines[0] != lines[1] {
		t.Fatalf("got %q", out.String())
	}
	if !regexp.MustCompile(`^/proc/self/ns/net\tgen=(\d+|-) ipt=\S+ ip6t=\S+$`).MatchString(lines[0]) {
		t.Errorf("got %q", lines[0])
	}
}
