package host_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestLogAndNotificationCursors pages through GET /v1/logs and GET /v1/notifications with
// before= (both newest first), two at a time and five at a time, following next: every item once,
// in order, with next on every full page and on no other; a cursor in the middle starts right
// after it.
func TestLogAndNotificationCursors(t *testing.T) {
	t.Parallel()
	a := newApp(t, func(n int, _ *nodetest.Request) (int, string) {
		return 200, fmt.Sprintf(`{"callback": {"status": 2, "message": "request %d", "notify": "note %d"}}`, n, n)
	})
	f := setup(t, nodetest.Options{}, a, nil)
	for i := range 5 {
		ev := f.publish(t, "client.create", fmt.Sprint(i), "7")
		f.delivered(t, ev, "succeeded", 1)
	}
	for _, path := range []string{"/v1/logs", "/v1/notifications?user_id=7"} {
		t.Run(path, func(t *testing.T) { pages(t, f.tn.App.WithT(t), path, 5) })
	}
}

func pages(t *testing.T, c *nodetest.Client, path string, want int) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	read := func(query string) ([]string, string) {
		t.Helper()
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			Next string `json:"next"`
		}
		r := c.MustDo("GET", path+sep+query, nil, http.StatusOK, nil)
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatalf("%s%s%s: %v", path, sep, query, err)
		}
		ids := make([]string, len(page.Data))
		for i, d := range page.Data {
			ids[i] = d.ID
		}
		return ids, page.Next
	}
	all, next := read("limit=200")
	if len(all) != want || next != "" {
		t.Fatalf("the whole list: %d items, next %q; want %d and none", len(all), next, want)
	}
	newestFirst := slices.Clone(all)
	slices.Sort(newestFirst)
	slices.Reverse(newestFirst)
	if !slices.Equal(all, newestFirst) {
		t.Errorf("not newest first (descending id): %v", all)
	}
	for _, limit := range []int{2, want} {
		var got []string
		var sizes []int
		for at := ""; ; {
			q := fmt.Sprintf("limit=%d", limit)
			if at != "" {
				q += "&before=" + at
			}
			ids, next := read(q)
			got, sizes = append(got, ids...), append(sizes, len(ids))
			if full := len(ids) == limit; full != (next != "") || (full && next != ids[len(ids)-1]) {
				t.Fatalf("limit %d, before=%q: %d items and next %q; want next, the last item's id, on a full page only", limit, at, len(ids), next)
			}
			if next == "" {
				break
			}
			if len(sizes) > want+1 {
				t.Fatalf("limit %d: more pages than items: %v", limit, sizes)
			}
			at = next
		}
		if !slices.Equal(got, all) {
			t.Errorf("limit %d: pages %v gave %v, want %v", limit, sizes, got, all)
		}
	}
	if rest, _ := read("before=" + all[1]); !slices.Equal(rest, all[2:]) {
		t.Errorf("before=%s gave %v, want %v", all[1], rest, all[2:])
	}
}
