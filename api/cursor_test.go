package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestListCursors pages through every native list that has a cursor: accounts, apps and
// subscriptions with after= (oldest first), deliveries with before= (newest first). Each is read
// two at a time and five at a time, following next, and must give every item once, in the list's
// order, with next on every full page and on no other; a cursor in the middle starts right after
// it. (The Upsales style's lists are paged in plugins/upsales/host, QuicklySign's in its tests.)
func TestListCursors(t *testing.T) {
	t.Parallel()
	node := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	// Five of each: NewTenant makes an account and an app; the tenant makes the subscriptions
	// and, with one event, their five deliveries.
	var tn *nodetest.Tenant
	for i := range 5 {
		tn = node.NewTenant(fmt.Sprintf("cursor-%d", i), "")
	}
	for i := range 5 {
		subscribe(t, tn, fmt.Sprintf("%s/%d", rc.URL, i), nil)
	}
	if p := publish(t, tn, nil); p.Deliveries != 5 {
		t.Fatalf("%d deliveries", p.Deliveries)
	}
	for _, c := range []struct {
		name   string
		client *nodetest.Client
		path   string
		cursor string
		desc   bool
	}{
		{"accounts", node.Admin, "/v1/accounts", "after", false},
		{"apps", node.Admin, "/v1/apps", "after", false},
		{"subscriptions", tn.App, "/v1/subscriptions", "after", false},
		{"deliveries", tn.App, "/v1/deliveries", "before", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := 5
			if c.name == "accounts" {
				want++ // and the engine's own, engine.SystemAccount
			}
			checkCursor(t, c.client.WithT(t), c.path, c.cursor, c.desc, want)
		})
	}
}

// checkCursor pages through path with ?cursor=, and checks what it gets against the whole list.
func checkCursor(t *testing.T, c *nodetest.Client, path, cursor string, desc bool, want int) {
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
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	if desc {
		slices.Reverse(sorted)
	}
	if !slices.Equal(all, sorted) {
		t.Errorf("the list is not in %s order of id: %v", map[bool]string{false: "ascending", true: "descending"}[desc], all)
	}
	for _, limit := range []int{2, want} {
		var got []string
		var sizes []int
		for at := ""; ; {
			q := fmt.Sprintf("limit=%d", limit)
			if at != "" {
				q += "&" + cursor + "=" + at
			}
			ids, next := read(q)
			got, sizes = append(got, ids...), append(sizes, len(ids))
			if full := len(ids) == limit; full != (next != "") || (full && next != ids[len(ids)-1]) {
				t.Fatalf("limit %d, %s=%q: %d items and next %q; want next, the last item's id, on a full page only", limit, cursor, at, len(ids), next)
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
	// From the middle: everything after the second item, in order.
	if rest, _ := read(cursor + "=" + all[1]); !slices.Equal(rest, all[2:]) {
		t.Errorf("%s=%s gave %v, want %v", cursor, all[1], rest, all[2:])
	}
}
