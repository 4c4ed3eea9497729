package host

import (
	"fmt"
	"net/url"
	"strings"
)

// checkWithinApp returns why callback does not lie within the app's URL, or nil when it does.
// SalesKing requires it so that a token cannot send an app's notifications (signed with the app's
// secret) anywhere but to the app. Within means: the same scheme, the same host (case aside) and
// port (a default port written or not), and a path equal to the app's or under it segment by segment,
// compared as written (so /hooks does not cover /hooksevil, and /a%2Fb is not /a/b). Paths with
// dot segments are refused, since a receiver may resolve them out from under the app's path.
func checkWithinApp(appURL, callback string) error {
	if appURL == "" {
		return fmt.Errorf("must lie within the app's URL, and this app has none: the operator sets the app's url")
	}
	app, err := url.Parse(appURL)
	if err != nil || app.Host == "" {
		return fmt.Errorf("must lie within the app's URL, and the app's url %q is not a URL", appURL)
	}
	cb, err := url.Parse(callback)
	if err != nil || !cb.IsAbs() || cb.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL within the app's URL %s", appURL)
	}
	rule := fmt.Sprintf("must lie within the app's URL %s (same scheme, host and port, and a path at or under %q)", appURL, basePath(app))
	switch {
	case cb.User != nil:
		return fmt.Errorf("must not carry a user name or password; it %s", rule)
	case !strings.EqualFold(cb.Scheme, app.Scheme):
		return fmt.Errorf("%s: the scheme is %s, not %s", rule, cb.Scheme, app.Scheme)
	case !strings.EqualFold(strings.TrimSuffix(cb.Hostname(), "."), strings.TrimSuffix(app.Hostname(), ".")):
		return fmt.Errorf("%s: the host is %s, not %s", rule, cb.Hostname(), app.Hostname())
	case port(cb) != port(app):
		return fmt.Errorf("%s: the port is %s, not %s", rule, port(cb), port(app))
	}
	for _, seg := range strings.Split(cb.Path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%s: the path has a %q segment", rule, seg)
		}
	}
	base := basePath(app)
	p := cb.EscapedPath()
	if p == "" {
		p = "/"
	}
	if base != "/" && p != strings.TrimSuffix(base, "/") && !strings.HasPrefix(p, base) {
		return fmt.Errorf("%s: the path is %s", rule, p)
	}
	return nil
}

// basePath is the app URL's path as written, ending in "/": what a callback's path must start with.
func basePath(app *url.URL) string {
	p := app.EscapedPath()
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// port returns a URL's port, the scheme's default when none is written.
func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}
