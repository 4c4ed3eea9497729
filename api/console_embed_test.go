package api_test

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
)

// TestConsoleEmbedded: a platform's page on another site (localhost, where the node is 127.0.0.1)
// frames a portal link, as a platform embeds the portal for its integrators. Inside the frame the
// console trades the link, takes the code out of the frame's address, and shows the app's
// delivery and not another app's; the platform's page cannot reach into the frame. The operator
// ends the app's portal sessions from the console, and the framed page is signed out.
func TestConsoleEmbedded(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	rc := nodetest.NewReceiver(t)
	mine, theirs := n.NewTenant("embed-mine", ""), n.NewTenant("embed-theirs", "")
	subscribe(t, mine, rc.URL, nil)
	subscribe(t, theirs, rc.URL, nil)
	myDelivery := deliveryOf(t, mine, publish(t, mine, nil).ID, "succeeded")
	theirDelivery := deliveryOf(t, theirs, publish(t, theirs, nil).ID, "succeeded")
	var link portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &link)
	code := portalCode(t, n, link)

	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Platform</title><h1>Your integrations</h1>
<iframe id="portal" title="Webhooks" src="%s" width="1100" height="700"></iframe>`, html.EscapeString(link.URL))
	}))
	t.Cleanup(platform.Close)
	_, port, err := net.SplitHostPort(platform.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// localhost is another site than 127.0.0.1: Chromium runs the frame apart, as it would a
	// platform's page framing a node under its own domain.
	platformURL := "http://localhost:" + port + "/"

	b := newBrowser(t)
	top := b.tab()
	b.run(top, chromedp.Navigate(platformURL), chromedp.WaitVisible(chromedp.CSS(`iframe#portal`)))
	frame := b.frame(top, n.URL()+"/console/")

	row := `tr[data-delivery="` + myDelivery.ID + `"]`
	b.text(frame, row)
	b.waitText(frame, `#who`, "embed-mine app")
	if href := b.get(frame, chromedp.Location()); strings.Contains(href, code) {
		t.Errorf("the code stays in the frame's address: %s", href)
	}
	if page := b.html(frame); strings.Contains(page, theirDelivery.ID) || strings.Contains(page, theirs.AppID) {
		t.Errorf("the framed portal session shows another app's delivery")
	}
	// The platform's script sees a frame and nothing in it: not its page, not its session.
	reach := b.get(top, chromedp.Evaluate[string](`(() => {
		const f = document.querySelector('iframe#portal');
		try { return f.contentDocument === null ? 'no document' : 'document'; } catch (e) { return 'refused'; }
	})()`))
	if reach != "no document" && reach != "refused" {
		t.Errorf("the platform's page reached into the portal's frame: %s", reach)
	}
	store := b.get(top, chromedp.Evaluate[string](`(() => {
		try { return JSON.stringify(document.querySelector('iframe#portal').contentWindow.sessionStorage); } catch (e) { return 'refused'; }
	})()`))
	if store != "refused" {
		t.Errorf("the platform's page read the portal's sessionStorage: %s", store)
	}

	// The operator ends the app's portal sessions from the console; the framed page, at its next
	// poll of the deliveries, is signed out and says why.
	op := b.signInAsOperator(n)
	b.run(op, chromedp.Navigate(n.URL()+"/console/#/operator"))
	b.run(op, chromedp.Click(chromedp.CSS(`tr[data-app="`+mine.AppID+`"] button.end-portal`)))
	b.waitText(op, `#status`, "Ended 2 portal links and sessions of embed-mine app")
	b.waitText(frame, `#alert`, "Signed out: the portal session is not valid")
	b.run(frame, chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)))
}

// frame attaches to the frame of tab whose address starts with prefix, once Chromium has made it.
// A frame from another site is a target of its own (site isolation), which the tab's context does
// not reach.
func (b *browser) frame(tab context.Context, prefix string) context.Context {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		infos, err := chromedp.Targets(tab)
		if err != nil {
			b.t.Fatalf("browser targets: %v", err)
		}
		var seen []string
		for _, info := range infos {
			seen = append(seen, string(info.Type)+" "+info.URL)
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				ctx, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(info.TargetID))
				b.t.Cleanup(cancel)
				b.record(ctx)
				return ctx
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no frame at %s among the browser's targets: %q", prefix, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
