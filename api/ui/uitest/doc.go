// Package uitest drives the dashboard in Debian's chromium, headless, for
// tests: finding the browser, logging in with a token, waiting for page
// expressions, collecting the errors the page logs, and making tokens of a
// role. The in-process dashboard test (api/ui) and the one against real
// hosts (integration) share it.
package uitest
