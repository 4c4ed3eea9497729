package node_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
)

// slowPublish is a publish whose body is sent in two parts: the headers and the first byte at
// once, the rest when the test says.
type slowPublish struct {
	conn net.Conn
	rest string
}

// startSlowPublish connects from local (a loopback address) and sends all of a publish but its
// body's last bytes. It returns nil if local cannot be bound on this machine.
func startSlowPublish(t *testing.T, n *nodetest.Node, local, token string, body []byte) *slowPublish {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", n.Addr())
	if err != nil {
		return nil
	}
	t.Cleanup(func() { _ = c.Close() })
	head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", n.Addr(), token, len(body))
	// The server may already have closed a refused connection: the write's outcome is not the test.
	_, _ = io.WriteString(c, head+string(body[:1]))
	return &slowPublish{conn: c, rest: string(body[1:])}
}

// finish sends the rest of the body and reads the answer; an error means the server closed the
// connection without answering.
func (s *slowPublish) finish() (*http.Response, error) {
	if _, err := io.WriteString(s.conn, s.rest); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, nil
}

// publishBody is a publish with key as its entity id and idempotency key: publishing it again
// tells whether the first one was stored.
func publishBody(t *testing.T, accountID, key string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"account_id": accountID, "type": "client.create", "entity": map[string]string{"type": "client", "id": key}, "data": map[string]any{}, "idempotency_key": key})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlowClientsBeyondTheCapAreClosedAndOthersGetThrough opens more slow publishes from one
// address than its cap allows: those beyond the cap are closed unanswered, a client at another
// address publishes meanwhile, and those within the cap, still open, are answered when they finish.
func TestSlowClientsBeyondTheCapAreClosedAndOthersGetThrough(t *testing.T) {
	const perAddr, slow = 8, 20
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) {
		c.MaxConnsPerAddr, c.MaxConns = perAddr, 64
		// Only the caps may close a slow connection here, not its deadline.
		c.ReadTimeout = 10 * time.Minute
	}})
	tn := n.NewTenant("busy", "")
	var conns []*slowPublish
	var bodies [][]byte
	for i := range slow {
		bodies = append(bodies, publishBody(t, tn.AccountID, fmt.Sprint("slow-", i)))
		s := startSlowPublish(t, n, "127.0.0.2", tn.Token, bodies[i])
		if s == nil {
			t.Skip("cannot connect from 127.0.0.2 on this machine")
		}
		conns = append(conns, s)
	}

	// The normal client is at 127.0.0.1, within its own cap.
	var p engine.Published
	tn.App.MustDo("POST", "/v1/events", publishBody(t, tn.AccountID, "normal"), http.StatusAccepted, &p)

	answered, closed := 0, 0
	for i, s := range conns {
		resp, err := s.finish()
		switch {
		case err != nil:
			closed++
		case resp.StatusCode == http.StatusAccepted:
			answered++
		default:
			t.Errorf("a slow publish within the cap: %s", resp.Status)
		}
		// Publishing it again says whether the server stored it: only if it answered.
		var again engine.Published
		tn.App.MustDo("POST", "/v1/events", bodies[i], http.StatusAccepted, &again)
		if again.Duplicate != (err == nil) {
			t.Errorf("slow publish %d: answered %v, stored %v", i, err == nil, again.Duplicate)
		}
	}
	if answered != perAddr || closed != slow-perAddr {
		t.Errorf("%d slow publishes answered and %d closed, want %d and %d", answered, closed, perAddr, slow-perAddr)
	}
}

// TestSlowBodyIsCutOffByTheReadTimeout sends a publish's headers and then nothing more of its
// body: the server gives up on it at the read deadline, closes the connection and stores nothing.
func TestSlowBodyIsCutOffByTheReadTimeout(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Configure: func(c *node.Config) { c.ReadTimeout = 300 * time.Millisecond }})
	tn := n.NewTenant("slow", "")
	s := startSlowPublish(t, n, "127.0.0.1", tn.Token, publishBody(t, tn.AccountID, "never-finished"))
	if s == nil {
		t.Fatal("cannot connect")
	}
	// Waits for the server: without a deadline on the body this read would wait as long as the test.
	all, err := io.ReadAll(s.conn)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading until the server closes: %v", err)
	}
	if len(all) > 0 && !strings.HasPrefix(string(all), "HTTP/1.1 408") {
		t.Errorf("answer to a body cut off: %q, want 408 or nothing", all)
	}
	var again engine.Published
	tn.App.MustDo("POST", "/v1/events", publishBody(t, tn.AccountID, "never-finished"), http.StatusAccepted, &again)
	if again.Duplicate {
		t.Error("a publish whose body never arrived was stored")
	}
}
