package main

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReleaseTargets checks what `make release` runs without building:
// one static, trimmed build per platform with the version linked in, and
// the checksums.
func TestReleaseTargets(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out, err := exec.Command("make", "-C", "../..", "-n", "release", "VERSION=v9.9.9", "COMMIT=abc").CombinedOutput()
	require.NoError(t, err, string(out))
	// make -n prints the loop as one shell command: run its body for each
	// platform in the test's head instead.
	text := string(out)
	require.Contains(t, text, "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64")
	require.Contains(t, text, "CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath")
	require.Contains(t, text, "-X main.version=v9.9.9 -X main.commit=abc")
	require.Contains(t, text, "dist/parley-v9.9.9-$os-$arch$ext")
	require.Contains(t, text, "sha256sum parley-* > SHA256SUMS")
}
