// Command dumpreceiver is a webhook receiver for trying out a plugin: it prints every request it
// gets (method, path, headers in order of name, body) and answers 204. It verifies nothing, since
// it cannot know a custom plugin's format.
//
//	go run ./examples/dumpreceiver [--addr 127.0.0.1:9001]
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on")
	flag.Parse()
	var mu sync.Mutex
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
		names := make([]string, 0, len(r.Header))
		for name := range r.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, v := range r.Header[name] {
				fmt.Fprintf(&b, "%s: %s\n", strings.ToLower(name), v)
			}
		}
		fmt.Fprintf(&b, "\n%s\n\n", body)
		mu.Lock()
		_, _ = os.Stdout.WriteString(b.String())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("receiver listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
