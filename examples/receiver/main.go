// Command receiver is a Standard Webhooks receiver to point a Switchyard subscription at: it
// verifies each delivery's signature and timestamp, prints what it got, and answers 204, or 401
// when the signature is wrong. Verification is written out here in a few lines, as any receiver
// would, rather than borrowed from Switchyard's code.
//
//	go run ./examples/receiver --secret whsec_... [--addr 127.0.0.1:9000]
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	secret := flag.String("secret", "", "the subscription's signing secret (whsec_...)")
	flag.Parse()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(*secret, "whsec_"))
	if err != nil || len(key) == 0 {
		log.Fatal("--secret must be the subscription's whsec_ secret")
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "webhooks are POSTed here", http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := verify(key, r.Header, body, time.Now()); err != nil {
			fmt.Printf("REJECTED %s: %v\n", r.Header.Get("webhook-id"), err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Printf("verified %s: %s\n", r.Header.Get("webhook-id"), body)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Printf("receiver listening on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}

// verify checks a Standard Webhooks signature: HMAC-SHA256 of "id.timestamp.body", base64, in one
// of the space-separated "v1,<sig>" entries, with a timestamp within five minutes.
func verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(now.Sub(time.Unix(secs, 0)).Minutes()) > 5 {
		return errors.New("timestamp missing or more than five minutes off")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if v, sig, ok := strings.Cut(s, ","); ok && v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no signature matches")
}
