package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/gateway"
	"github.com/stretchr/testify/require"
)

// TestSlowClientCutOff: a client that sends its request head a byte at a
// time is disconnected once ReadTimeout has passed, long before it
// finishes; a normal request on the same server is answered.
func TestSlowClientCutOff(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	head := "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: slowloris\r\nX-Padding: " + strings.Repeat("a", 40) + "\r\n\r\n"
	start := time.Now()
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < len(head); n++ {
			if _, err := conn.Write([]byte{head[n]}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // a slow client, not the clock under test
		}
		sent <- n
	}()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode, "the slow request must not be served")
	}
	cut := time.Since(start)
	require.Less(t, cut, time.Duration(len(head))*50*time.Millisecond/2, "cut off well before the head was sent")
	conn.Close()
	require.Less(t, <-sent, len(head))

	code, _ := e.api("GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, code)
}

// TestSlowImportBody: a CSV import (a streamed route, up to 32 MiB) may
// take longer than ReadTimeout to arrive; an ordinary body as slow is cut
// off.
func TestSlowImportBody(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, nil, func(c *gateway.Config) { c.ReadTimeout = 300 * time.Millisecond })
	slowPost := func(path, contentType string, lines []string) (int, error) {
		pr, pw := io.Pipe()
		go func() {
			for _, l := range lines {
				time.Sleep(100 * time.Millisecond) // a slow client, not the clock under test
				if _, err := io.WriteString(pw, l); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequest("POST", e.url+path, pr)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+ownerToken)
		req.Header.Set("Content-Type", contentType)
		resp, err := e.client.Do(req)
		if err != nil {
			pr.CloseWithError(err)
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	rows := []string{"name,phone\n"}
	for i := range 8 {
		rows = append(rows, fmt.Sprintf("Slow %d,+44 20 %08d\n", i, i))
	}
	code, err := slowPost("/api/v1/contacts/import", "text/csv", rows)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "an import over 900 ms with a 300 ms ReadTimeout")
	require.Equal(t, 8, e.countContacts(ownerToken))

	code, err = slowPost("/api/v1/contacts", "application/json", []string{`{"name":`, `"Too`, ` slow`, `",`, `"phone"`, `:"+44 20 1"`, `}`})
	if err == nil {
		require.NotEqual(t, http.StatusCreated, code, "an ordinary body as slow is not served")
	}
	require.Equal(t, 8, e.countContacts(ownerToken))
}
