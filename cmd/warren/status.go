package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/warrenhq/warren/statusapi"
)

// statusTimeout bounds the status request: the answer comes from memory,
// so a warren that takes longer is in trouble itself.
const statusTimeout = 5 * time.Second

// runStatusCommand fetches a running warren's status document and prints
// it as tables. Exit 0 when no alert fires, 1 when some do or warren
// cannot be reached.
func runStatusCommand(base string, queues int, colour string, stdout, stderr io.Writer) int {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/status")
	if err != nil || u.Host == "" {
		fmt.Fprintf(stderr, "warren: status: --url %q is not a URL such as http://localhost:9842\n", base)
		return exitConfigError
	}
	u.RawQuery = url.Values{"limit": {strconv.Itoa(max(queues, 1))}}.Encode()
	client := &http.Client{Timeout: statusTimeout}
	resp, err := client.Get(u.String())
	if err != nil {
		fmt.Fprintf(stderr, "warren: status: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(stderr, "warren: status: %s answered %s: %s\n", u.Redacted(), resp.Status, strings.TrimSpace(string(body)))
		return exitFailure
	}
	var doc statusapi.Document
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		fmt.Fprintf(stderr, "warren: status: %s did not answer with a status document: %v\n", u.Redacted(), err)
		return exitFailure
	}
	useColour := colour == "always" || (colour == "auto" && isTerminal(stdout))
	if err := statusapi.Render(stdout, doc, useColour); err != nil {
		fmt.Fprintf(stderr, "warren: status: %v\n", err)
		return exitFailure
	}
	if len(doc.Alerts) > 0 {
		return exitFailure
	}
	return exitOK
}

// isTerminal reports whether w is a character device (a TTY), without a
// dependency: good enough to decide on colour.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
