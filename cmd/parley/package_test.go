package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The packaging tests check deploy/ and the Makefile's release as far as
// this machine allows: systemd-analyze verifies the unit, the Dockerfile
// and the compose file are read and held to our rules (no Docker engine
// runs here), and `make -n release` shows every platform's build.

// TestSystemdUnit runs `systemd-analyze verify` on deploy/systemd/parley.service
// (with ExecStart pointing at the test's binary, which must exist) and
// fails on any warning it prints, not only on its exit status.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	analyze := toolFrom(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd", "parley.service"))
	require.NoError(t, err)
	text := string(unit)
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=parley", "ProtectSystem=strict", "ProtectHome=yes",
		"NoNewPrivileges=yes", "PrivateTmp=yes", "ReadWritePaths=/var/lib/parley", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE", "Restart=on-failure", "EnvironmentFile=-/etc/parley/parley.env",
		"ExecStart=/usr/local/bin/parley serve "} {
		require.Contains(t, text, "\n"+want, "the unit lacks %s", want)
	}
	// The stop timeout outlasts the 20 s drain of run().
	m := regexp.MustCompile(`\nTimeoutStopSec=(\d+)s\n`).FindStringSubmatch(text)
	require.NotNil(t, m, "TimeoutStopSec=Ns")
	stop, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.Greater(t, stop, 20, "TimeoutStopSec outlasts the drain")

	dir := t.TempDir()
	path := filepath.Join(dir, "parley.service")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/parley", binary)), 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")
}

// dockerInstruction is one instruction of a Dockerfile, continuation
// lines joined.
type dockerInstruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	require.NoError(t, sc.Err())
	require.Zero(t, cur.Len(), "a continuation line ends the file")
	return out
}

// TestDockerfile holds deploy/docker/Dockerfile to our rules: base images
// pinned to a version, a multi-stage build of a static binary, a non-root
// USER in the final stage, the data dir a VOLUME, the address and data dir
// in ENV, a HEALTHCHECK running a subcommand the binary has, no ADD.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := parseDockerfile(t, filepath.Join(deployDir, "docker", "Dockerfile"))
	known := map[string]bool{"FROM": true, "WORKDIR": true, "COPY": true, "RUN": true, "ARG": true, "USER": true,
		"ENV": true, "VOLUME": true, "EXPOSE": true, "HEALTHCHECK": true, "ENTRYPOINT": true, "CMD": true, "LABEL": true}
	var froms []string
	var final []dockerInstruction // the instructions of the last stage
	for _, in := range ins {
		require.True(t, known[in.cmd], "line %d: unknown instruction %s", in.line, in.cmd)
		require.NotEqual(t, "ADD", in.cmd, "line %d: COPY, not ADD", in.line)
		if in.cmd == "FROM" {
			image := strings.Fields(in.args)[0]
			froms = append(froms, image)
			name, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
			require.True(t, ok || strings.Contains(image, "@sha256:"), "line %d: %s is not pinned to a tag", in.line, image)
			require.NotEqual(t, "latest", tag, "line %d: %s", in.line, name)
			final = nil
		}
		final = append(final, in)
	}
	require.GreaterOrEqual(t, len(froms), 2, "a multi-stage build")
	require.Regexp(t, `^golang:1\.26`, froms[0], "built with Go 1.26")
	require.Regexp(t, `^gcr\.io/distroless/static`, froms[len(froms)-1])

	var build string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	require.Contains(t, build, "CGO_ENABLED=0", "a static binary")
	require.Contains(t, build, "-X main.version=")
	require.Contains(t, build, "./cmd/parley")

	got := map[string][]string{}
	for _, in := range final {
		got[in.cmd] = append(got[in.cmd], in.args)
	}
	require.Len(t, got["USER"], 1)
	user, _, _ := strings.Cut(got["USER"][0], ":")
	require.NotContains(t, []string{"root", "0", ""}, user, "a non-root user")
	require.Equal(t, []string{`["/var/lib/parley"]`}, got["VOLUME"])
	require.Equal(t, []string{"8080"}, got["EXPOSE"])
	env := strings.Join(got["ENV"], " ")
	require.Contains(t, env, "PARLEY_ADDR=0.0.0.0:8080")
	require.Contains(t, env, "PARLEY_DATA_DIR=/var/lib/parley")
	require.Len(t, got["HEALTHCHECK"], 1)
	hc := regexp.MustCompile(`CMD \["/usr/local/bin/parley", "([a-z]+)"\]$`).FindStringSubmatch(got["HEALTHCHECK"][0])
	require.NotNil(t, hc, "HEALTHCHECK runs the binary: %s", got["HEALTHCHECK"][0])
	code, _, stderr := parley(t, []string{"PARLEY_ADDR=127.0.0.1:1"}, hc[1], "-timeout", "1s")
	require.Equal(t, 1, code, "the HEALTHCHECK subcommand exists and fails with nothing listening")
	require.NotContains(t, stderr, "unknown command")
	require.Equal(t, []string{`["/usr/local/bin/parley"]`}, got["ENTRYPOINT"])
	_, err := os.Stat(filepath.Join(deployDir, "docker", "Dockerfile.dockerignore"))
	require.NoError(t, err)
}

// TestComposeFile reads deploy/docker/docker-compose.yml: Parley built
// from the Dockerfile, Prometheus and Grafana on pinned images, every
// file it mounts present in deploy/, and the Prometheus configuration it
// mounts valid (promtool) and scraping the parley service.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(deployDir, "docker")
	raw, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	require.NoError(t, err)
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	require.NoError(t, dec.Decode(&compose))
	require.ElementsMatch(t, []string{"parley", "prometheus", "grafana"}, keys(compose.Services))

	p := compose.Services["parley"]
	require.NotNil(t, p.Build)
	_, err = os.Stat(filepath.Join(dir, p.Build.Context, p.Build.Dockerfile))
	require.NoError(t, err, "parley's Dockerfile")
	_, err = os.Stat(filepath.Join(dir, p.Build.Context, "go.mod"))
	require.NoError(t, err, "the build context is the repository root")

	mounted := map[string]string{} // container path → host path
	for name, s := range compose.Services {
		if name != "parley" {
			require.Regexp(t, `:v?\d+\.\d+\.\d+$`, s.Image, "%s is pinned", name)
		}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			require.GreaterOrEqual(t, len(parts), 2, v)
			host := parts[0]
			if !strings.HasPrefix(host, ".") && !strings.HasPrefix(host, "/") {
				_, ok := compose.Volumes[host]
				require.True(t, ok, "%s: named volume %s is declared", name, host)
				continue
			}
			abs := filepath.Join(dir, host)
			_, err := os.Stat(abs)
			require.NoError(t, err, "%s mounts %s", name, host)
			rel, err := filepath.Rel(deployDir, abs)
			require.NoError(t, err)
			require.False(t, strings.HasPrefix(rel, ".."), "%s mounts %s, outside deploy/", name, host)
			mounted[parts[1]] = abs
		}
	}
	// Prometheus's configuration is one of the mounted files, valid, and
	// its rule files are mounted beside it.
	var config string
	for _, arg := range compose.Services["prometheus"].Command {
		if c, ok := strings.CutPrefix(arg, "--config.file="); ok {
			config = c
		}
	}
	host, ok := mounted[config]
	require.True(t, ok, "prometheus's --config.file %q is mounted", config)
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	raw, err = os.ReadFile(host)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &prom))
	for _, r := range prom.RuleFiles {
		_, ok := mounted[filepath.Join(filepath.Dir(config), r)]
		require.True(t, ok, "rule file %s is mounted", r)
	}
	require.Equal(t, []string{"parley:8080"}, prom.ScrapeConfigs[0].StaticConfigs[0].Targets)
	// Grafana's provisioning: a Prometheus data source at the compose
	// service, and a dashboard provider whose path holds parley.json.
	var ds struct {
		Datasources []struct{ Type, URL string } `yaml:"datasources"`
	}
	raw, err = os.ReadFile(filepath.Join(mounted["/etc/grafana/provisioning"], "datasources", "prometheus.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &ds))
	require.Equal(t, "http://prometheus:9090", ds.Datasources[0].URL)
	var dash struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	raw, err = os.ReadFile(filepath.Join(mounted["/etc/grafana/provisioning"], "dashboards", "parley.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &dash))
	_, ok = mounted[dash.Providers[0].Options.Path+"/parley.json"]
	require.True(t, ok, "the dashboard is mounted under the provider's path")
	runTool(t, nil, "promtool", "check", "config", host)
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

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
