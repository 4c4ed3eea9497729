package api_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/engine/enginetest"
)

// chromiumPath is Debian's Chromium, which .ci/deps installs for make test.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium that records every response body its pages receive, so that a
// test can search them for secrets.
type browser struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	bodies map[string]string // by URL and request id
	wg     sync.WaitGroup
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the console's browser tests need Debian's Chromium at %s: run make deps (it installs the chromium package): %v", chromiumPath, err)
	}
	// The flags keep Chromium off the network but for loopback: without them it tries Google's
	// hosts at every start, which this machine's closed network refuses.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx, bodies: map[string]string{}}
	t.Cleanup(func() {
		b.wg.Wait()
		cancel()
		cancelAlloc()
	})
	// Start the browser now, without a timeout (which would end it), so that a failure to start
	// is reported as one.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

// tab opens a new tab, whose sessionStorage is its own: a new sign-in.
func (b *browser) tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	b.record(ctx)
	return ctx
}

// signInAsOperator opens a tab on the node's console and signs in with the admin token.
func (b *browser) signInAsOperator(n *nodetest.Node) context.Context {
	b.t.Helper()
	op := b.tab()
	b.run(op, chromedp.Navigate(n.URL()+"/console"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=token]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=token]`), nodetest.AdminToken),
		chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)))
	b.waitText(op, `#who`, "Operator")
	return op
}

// record keeps the body of every response the tab receives. Its first call opens the tab, with
// the tab's own context: a timeout there would close the tab.
func (b *browser) record(ctx context.Context) {
	b.t.Helper()
	var urls sync.Map
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventResponseReceived:
			urls.Store(ev.RequestID, ev.Response.URL)
		case *page.EventJavascriptDialogOpening:
			// A confirmation (revoke, skip, delete) is answered yes, as a user who meant it.
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		case *network.EventLoadingFinished:
			u, _ := urls.Load(ev.RequestID)
			url, _ := u.(string)
			// The listener may not call the browser: it runs on the loop that reads its messages.
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: ev.RequestID})
				if err != nil {
					return // a redirect, or the tab closing: no body to keep
				}
				b.mu.Lock()
				b.bodies[url+" "+string(ev.RequestID)] = string(res.Body)
				b.mu.Unlock()
			}()
		}
	})
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browser) run(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, a := range actions {
		_, err := again(func() (chromedp.Void, error) { return chromedp.Run(ctx, a) })
		if err != nil {
			b.t.Fatalf("browser, step %d of %d: %v\npage: %s", i+1, len(actions), err, b.mainHTML(ctx))
		}
	}
}

// mainHTML is what the page shows, for failures.
func (b *browser) mainHTML(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return s
}

// text is the text of the first element matching sel, once it is visible.
func (b *browser) text(ctx context.Context, sel string) string {
	b.t.Helper()
	b.run(ctx, chromedp.WaitVisible(chromedp.CSS(sel)))
	return b.get(ctx, chromedp.Text(chromedp.CSS(sel)))
}

// again runs f, and again while it fails for a node gone: a node a query found can be gone by the
// time it is used when the page draws a list again (it polls), and the step failed before doing
// anything.
func again[T any](f func() (T, error)) (T, error) {
	v, err := f()
	for try := 0; err != nil && strings.Contains(err.Error(), "No node with given id") && try < 5; try++ {
		time.Sleep(100 * time.Millisecond)
		v, err = f()
	}
	return v, err
}

func (b *browser) get(ctx context.Context, a chromedp.Action[string]) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := again(func() (string, error) { return chromedp.Run(ctx, a) })
	if err != nil {
		b.t.Fatalf("browser: %v\npage: %s", err, b.mainHTML(ctx))
	}
	return s
}

// waitText waits until the element matching sel says want.
func (b *browser) waitText(ctx context.Context, sel, want string) {
	b.t.Helper()
	b.waitTextWithin(ctx, sel, want, 20*time.Second)
}

// waitTextWithin is waitText for a step that takes longer than a page's own work.
func (b *browser) waitTextWithin(ctx context.Context, sel, want string, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		b.run(ctx, chromedp.WaitReady(chromedp.CSS(sel)))
		s := b.get(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s says %q, want %q\npage: %s", sel, s, want, b.mainHTML(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCount waits until want elements match sel.
func (b *browser) waitCount(ctx context.Context, sel string, want int) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			b.t.Fatalf("browser: %v", err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d elements match %s, want %d\npage: %s", got, sel, want, b.mainHTML(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) html(ctx context.Context) string {
	b.t.Helper()
	return b.get(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
}

// screenshot saves the page to dir/name when the test was asked for screenshots
// (SWITCHYARD_SCREENSHOTS=docs), for the README.
func (b *browser) screenshot(ctx context.Context, name string) {
	b.t.Helper()
	dir := os.Getenv("SWITCHYARD_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if !filepath.IsAbs(dir) {
		// go test runs in the package's folder; the variable names a folder of the repository.
		dir = filepath.Join("..", dir)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestConsole drives the console in Chromium as an operator and as an app through a portal link:
// the operator signs in with the admin token, sees the delivery the test made, opens its attempts,
// retries it and sees the new attempt; a portal link opens the console as one app, which sees its
// deliveries and not another app's; a portal link used again or too late is refused on the page.
// No secret the test made is ever in a page or in any response the pages received.
func TestConsole(t *testing.T) {
	t.Parallel()
	clock := enginetest.NewClock(time.Now().UTC())
	n := nodetest.Start(t, nodetest.Options{Clock: clock})
	rc := nodetest.NewReceiver(t)
	// The first request fails: the delivery, allowed no retries, is dead until retried by hand.
	rc.SetRespond(func(i int, _ *nodetest.Request) (int, http.Header, string) {
		if i == 0 {
			return http.StatusServiceUnavailable, nil, `{"error":"down for maintenance"}`
		}
		return http.StatusNoContent, nil, ""
	})
	other := nodetest.NewReceiver(t)
	mine, theirs := n.NewTenant("console-mine", ""), n.NewTenant("console-theirs", "")
	mySub := subscribe(t, mine, rc.URL+"/webhooks", map[string]any{"retry_policy": map[string]any{"schedule": []string{}}})
	theirSub := subscribe(t, theirs, other.URL+"/webhooks", nil)
	myDelivery := deliveryOf(t, mine, publish(t, mine, nil).ID, "dead")
	theirDelivery := deliveryOf(t, theirs, publish(t, theirs, nil).ID, "succeeded")
	secrets := map[string]string{
		"admin token": nodetest.AdminToken, "my API key": mine.Token, "their API key": theirs.Token,
		"my app's secret": mine.AppSecret, "their app's secret": theirs.AppSecret,
		"my subscription's secret": mySub.Secret, "their subscription's secret": theirSub.Secret,
	}

	b := newBrowser(t)
	op := b.signInAsOperator(n)
	row := `tr[data-delivery="` + myDelivery.ID + `"]`
	if got := b.text(op, row); !strings.Contains(got, "dead") {
		t.Errorf("the operator's list shows %q for the dead delivery", got)
	}
	b.text(op, `tr[data-delivery="`+theirDelivery.ID+`"]`)
	b.screenshot(op, "console-deliveries.png")

	// A new delivery appears without a reload; older ones come a page at a time.
	newer := deliveryOf(t, theirs, publish(t, theirs, nil).ID, "succeeded")
	b.text(op, `tr[data-delivery="`+newer.ID+`"]`)
	b.run(op, chromedp.Navigate(n.URL()+"/console/#/deliveries?limit=1"))
	b.waitText(op, `#main p.muted`, "1 shown, more below")
	for want := 2; want <= 3; want++ {
		b.run(op, chromedp.Click(chromedp.CSS(`#more`)))
		b.waitCount(op, `tr[data-delivery]`, want)
	}
	// Filtering by state keeps only the dead one.
	b.run(op, chromedp.SetValue(chromedp.CSS(`select[name=status]`), "dead"),
		chromedp.Click(chromedp.CSS(`form[aria-label="Filter deliveries"] button.primary`)))
	b.waitText(op, `#main p.muted`, "1 shown.")
	if got := b.text(op, `tr[data-delivery]`); !strings.Contains(got, myDelivery.ID) {
		t.Errorf("filtered by state dead, the list shows %q", got)
	}
	b.run(op, chromedp.Click(chromedp.CSS(row+` a`)))
	first := b.text(op, `li[data-attempt="1"]`)
	if !strings.Contains(first, "answered 503") {
		t.Errorf("the first attempt reads %q, want its 503", first)
	}
	b.waitText(op, `#delivery-state`, "dead")
	b.run(op, chromedp.Click(chromedp.CSS(`#retry`)))
	if second := b.text(op, `li[data-attempt="2"]`); !strings.Contains(second, "answered 204") {
		t.Errorf("the retried attempt reads %q, want its 204", second)
	}
	b.waitText(op, `#delivery-state`, "succeeded")
	// Open the attempts' requests and responses for the picture and for the search below.
	if _, err := chromedp.Run(op, chromedp.Evaluate[bool](`document.querySelectorAll('ol.timeline details').forEach(d => d.open = true), true`)); err != nil {
		t.Fatal(err)
	}
	b.screenshot(op, "console-delivery.png")
	opPage := b.html(op)

	// The operator's view: the node's figures of the last hour, and a portal link for an app.
	b.run(op, chromedp.Navigate(n.URL()+"/console/#/operator"))
	b.waitText(op, `.figures`, "due now")
	b.run(op, chromedp.WaitVisible(chromedp.CSS(`figure svg rect`)))
	// The queue's chart: a mark for each series where the node read the queue (this minute at
	// least), and a text alternative that says the reading now.
	b.run(op, chromedp.WaitReady(chromedp.CSS(`svg.queue [data-series="due"]`)), chromedp.WaitReady(chromedp.CSS(`svg.queue [data-series="in_flight"]`)))
	if label := b.get(op, chromedp.Evaluate[string](`document.querySelector('svg.queue').getAttribute('aria-label')`)); !regexp.MustCompile(`now \d+ due, \d+ in flight$`).MatchString(label) {
		t.Errorf("the queue chart's label reads %q, want the due and in-flight counts now", label)
	}
	appRow := `tr[data-app="` + mine.AppID + `"]`
	b.text(op, appRow)
	b.screenshot(op, "console-operator.png")
	opView := b.html(op)
	// The app's credentials are listed, and one is revoked from the list.
	spare := n.Credential(mine.AppID, engine.NewCredential{Kind: engine.CredentialAPIKey})
	secrets["spare API key"] = spare.Token
	b.run(op, chromedp.Click(chromedp.CSS(appRow+` button:nth-child(2)`)))
	credRow := `tr[data-credential="` + spare.ID + `"]`
	b.run(op, chromedp.Click(chromedp.CSS(credRow+` button`)))
	b.waitText(op, credRow, "revoked")
	n.Client(spare.Token).MustDo("GET", "/v1/subscriptions", nil, http.StatusUnauthorized, nil)

	b.run(op, chromedp.Click(chromedp.CSS(appRow+` button`)))
	b.waitText(op, `.reveal`, "Portal link for console-mine app")
	link := portalLink{URL: b.text(op, `.reveal code`)}

	// A portal link opens the console as one app only.
	code := portalCode(t, n, link)
	app := b.tab()
	b.run(app, chromedp.Navigate(link.URL))
	b.text(app, row)
	b.waitText(app, `#who`, "console-mine app")
	href := b.get(app, chromedp.Location())
	if strings.Contains(href, code) {
		t.Errorf("the code stays in the address bar: %s", href)
	}
	appPage := b.html(app)
	if strings.Contains(appPage, theirDelivery.ID) || strings.Contains(appPage, theirs.AppID) {
		t.Errorf("the portal session's page shows another app's delivery")
	}
	if strings.Contains(appPage, `href="#/operator"`) && !strings.Contains(appPage, `href="#/operator" data-admin="" hidden=""`) {
		t.Errorf("the portal session's page offers the operator's view")
	}
	// The app's own view of a delivery works too, and another app's is not found.
	b.run(app, chromedp.Navigate(n.URL()+"/console/#/deliveries/"+theirDelivery.ID))
	b.waitText(app, `#alert`, "not found")

	// The app manages its subscriptions: pause and resume, a new one and a rotated secret, each
	// secret shown once and gone from the page once it moves on.
	b.run(app, chromedp.Navigate(n.URL()+"/console/#/subscriptions"))
	subRow := `tr[data-subscription="` + mySub.ID + `"]`
	b.run(app, chromedp.Click(chromedp.CSS(subRow+` button`)))
	b.waitText(app, subRow, "paused")
	b.run(app, chromedp.Click(chromedp.CSS(subRow+` button`)))
	b.waitText(app, subRow, "active")
	b.run(app, chromedp.SendKeys(chromedp.CSS(`form [name=account_id]`), mine.AccountID),
		chromedp.SetValue(chromedp.CSS(`form [name=events]`), "client.*"),
		chromedp.SendKeys(chromedp.CSS(`form [name=url]`), rc.URL+"/second"),
		chromedp.Click(chromedp.CSS(`form button.primary`)))
	created := b.text(app, `.reveal code`)
	// The list is drawn again with the new one; a click before that would miss its button.
	b.waitCount(app, `tr[data-subscription]`, 2)
	b.run(app, chromedp.Click(chromedp.CSS(subRow+` button:nth-child(2)`)))
	b.waitText(app, `.reveal`, "New signing secret of "+mySub.ID)
	rotated := b.text(app, `.reveal code`)
	if len(created) < 16 || len(rotated) < 16 || rotated == mySub.Secret {
		t.Errorf("revealed %q on creation and %q on rotation", created, rotated)
	}
	b.run(app, chromedp.Navigate(n.URL()+"/console/#/deliveries"), chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.Navigate(n.URL()+"/console/#/subscriptions"), chromedp.WaitVisible(chromedp.CSS(subRow)))
	if html := b.html(app); strings.Contains(html, created) || strings.Contains(html, rotated) {
		t.Errorf("a revealed secret stays on the page")
	}

	// The app sends its subscription an example, which goes the real path to its receiver.
	before := len(rc.Requests())
	b.run(app, chromedp.SetValue(chromedp.CSS(`#example-subscription`), mySub.ID),
		chromedp.SetValue(chromedp.CSS(`fieldset:last-of-type input[name=type]`), "client.update"),
		chromedp.Click(chromedp.CSS(`fieldset:last-of-type button`)))
	b.run(app, chromedp.Click(chromedp.CSS(`#example-delivery`)))
	if got := b.text(app, `li[data-attempt="1"]`); !strings.Contains(got, "answered 204") {
		t.Errorf("the example's attempt reads %q", got)
	}
	if got := rc.WaitFor(t, before+1, 15*time.Second); !strings.Contains(string(got[before].Body), `"client.update"`) {
		t.Errorf("the receiver got %s", got[before].Body)
	}

	// The same link again, and a link past its ten minutes, are refused on the page.
	used := b.tab()
	b.run(used, chromedp.Navigate(link.URL))
	b.waitText(used, `#alert`, "used already")
	var late portalLink
	n.Admin.MustDo("POST", "/v1/apps/"+mine.AppID+"/portal-sessions", nil, http.StatusCreated, &late)
	advance(t, clock, 10*time.Minute+time.Second)
	expired := b.tab()
	b.run(expired, chromedp.Navigate(late.URL))
	b.waitText(expired, `#alert`, "expired")
	if html := b.html(expired); !strings.Contains(html, `name="token"`) {
		t.Errorf("a refused portal link does not lead to the sign-in form")
	}

	// A phone's width, for the README; the last picture, as the emulation stays.
	if os.Getenv("SWITCHYARD_SCREENSHOTS") != "" {
		b.run(op, chromedp.Navigate(n.URL()+"/console/#/deliveries"))
		b.waitText(op, `#main p.muted`, "shown")
		b.run(op, chromedp.EmulateViewport(390, 844))
		b.screenshot(op, "console-deliveries-phone.png")
	}

	logs := n.Logs.String()
	for name, secret := range map[string]string{"admin token": nodetest.AdminToken, "portal link's code": code, "portal session's token": b.sessionToken(app)} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server's log shows the %s", name)
		}
	}

	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bodies) < 10 {
		t.Fatalf("recorded only %d responses: the search below would prove little", len(b.bodies))
	}
	for key := range b.bodies {
		// data: URLs are the browser's own (the date picker's icon), not fetched.
		if !strings.HasPrefix(key, n.URL()+"/") && !strings.HasPrefix(key, "data:") {
			t.Errorf("the console fetched %s, which is not this server's", key)
		}
	}
	t.Logf("searched 3 pages and %d responses for %d secrets", len(b.bodies), len(secrets))
	for name, secret := range map[string]string{"new subscription's secret": created, "rotated secret": rotated} {
		var in []string
		for url, body := range b.bodies {
			if strings.Contains(body, secret) {
				in = append(in, url)
			}
		}
		if len(in) != 1 || !strings.Contains(in[0], "/v1/subscriptions") {
			t.Errorf("the %s is in %d responses, want only the one that made it: %v", name, len(in), in)
		}
	}
	for name, secret := range secrets {
		for page, html := range map[string]string{"operator's delivery": opPage, "operator's": opView, "portal session's": appPage} {
			if strings.Contains(html, secret) {
				t.Errorf("the %s page shows the %s", page, name)
			}
		}
		for url, body := range b.bodies {
			if strings.Contains(body, secret) {
				t.Errorf("the response of %s holds the %s", url, name)
			}
		}
	}
}

// TestConsoleServed: /console leads to the console; its files come from the binary with the types
// browsers need to run them as modules, under a policy that runs this server's scripts only and
// sends no Referer, without a header that would forbid framing (platforms embed portal sessions).
func TestConsoleServed(t *testing.T) {
	t.Parallel()
	n := nodetest.Start(t, nodetest.Options{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(n.URL() + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, wantType := range map[string]string{
		"/console/": "text/html", "/console/app.js": "text/javascript", "/console/lib.js": "text/javascript",
		"/console/deliveries.js": "text/javascript", "/console/operator.js": "text/javascript",
		"/console/subscriptions.js": "text/javascript", "/console/style.css": "text/css",
	} {
		resp, err := client.Get(n.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		switch {
		case resp.StatusCode != http.StatusOK:
			t.Errorf("%s: %d", path, resp.StatusCode)
		case !strings.HasPrefix(h.Get("Content-Type"), wantType):
			t.Errorf("%s: content type %q, want %s", path, h.Get("Content-Type"), wantType)
		case !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'"),
			strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors"),
			h.Get("X-Frame-Options") != "",
			h.Get("Referrer-Policy") != "no-referrer":
			t.Errorf("%s: headers %v", path, h)
		}
	}
}

// sessionToken is the token the tab keeps in its sessionStorage.
func (b *browser) sessionToken(ctx context.Context) string {
	b.t.Helper()
	token := b.get(ctx, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem('switchyard.console')).token`))
	if !strings.HasPrefix(token, "pss_") {
		b.t.Fatalf("the portal tab keeps %q", token)
	}
	return token
}
