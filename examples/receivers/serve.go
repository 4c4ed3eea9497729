package receivers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a receiver script serving on loopback: the "serve" mode of a script that prints
// {"listening": PORT} as its first line and then one JSON line per request it got.
type Server struct {
	// URL is http://127.0.0.1:PORT.
	URL string

	mu      sync.Mutex
	lines   []string
	arrived chan struct{}
	stderr  strings.Builder
}

// Serve starts a receiver script in serve mode and stops it when the test ends.
func Serve(t testing.TB, script string, args ...string) *Server {
	t.Helper()
	dir := Dir(t)
	cmd := exec.Command("node", append([]string{filepath.Join(dir, script), "serve"}, args...)...)
	s := &Server{arrived: make(chan struct{}, 1)}
	cmd.Stderr = &syncWriter{mu: &s.mu, w: &s.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", script, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	scanner := bufio.NewScanner(out)
	scanner.Buffer(make([]byte, 0, 64<<10), 16<<20)
	ready := make(chan string, 1)
	go func() {
		first := true
		for scanner.Scan() {
			line := scanner.Text()
			if first {
				first = false
				ready <- line
				continue
			}
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
			select {
			case s.arrived <- struct{}{}:
			default:
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		var hello struct{ Listening int }
		if !ok || json.Unmarshal([]byte(line), &hello) != nil || hello.Listening == 0 {
			t.Fatalf("%s did not start: %q %s", script, line, s.Stderr())
		}
		s.URL = fmt.Sprintf("http://127.0.0.1:%d", hello.Listening)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start listening within 30s: %s", script, s.Stderr())
	}
	return s
}

// Lines returns the lines printed so far, one per request.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Stderr returns what the script wrote to its standard error.
func (s *Server) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// WaitFor waits until at least n lines have arrived, failing the test after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if lines := s.Lines(); len(lines) >= n {
			return lines
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			t.Fatalf("the receiver printed %d lines within %v, want %d; stderr: %s", len(s.Lines()), timeout, n, s.Stderr())
		}
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
