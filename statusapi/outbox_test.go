package statusapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/outbox"
)

func outboxSources(t *testing.T) Sources {
	src := sources(t)
	src.Outboxes = func() []outbox.Status {
		return []outbox.Status{
			{Name: "orders", Attempted: true, Up: true, HasLatency: true, Pending: 12, OldestAge: 4.5, LastDispatch: now.Add(-3 * time.Second)},
			{Name: "billing", Attempted: true, Up: false, Reason: outbox.ReasonConnect, HasLatency: true, Pending: 3, OldestAge: 90},
		}
	}
	return src
}

func TestHandlerServesTheOutboxesUnderTheirDocumentedNames(t *testing.T) {
	var doc struct {
		Outboxes []map[string]any `json:"outboxes"`
	}
	getStatus(t, outboxSources(t), "/api/v1/status", &doc)
	got, _ := json.Marshal(doc.Outboxes)
	want := `[{"error":"connect","has_dispatch_time":true,"name":"billing","oldest_pending_age_seconds":90,"pending":3,"up":false},` +
		`{"has_dispatch_time":true,"last_dispatch":"2026-11-22T11:59:57Z","name":"orders","oldest_pending_age_seconds":4.5,"pending":12,"up":true}]`
	if string(got) != want {
		t.Errorf("outboxes served as\n %s\nwant\n %s", got, want)
	}
	if doc := Build(sources(t), Filter{}); doc.Outboxes == nil || len(doc.Outboxes) != 0 {
		t.Errorf("without outboxes the document has %#v, want an empty list", doc.Outboxes)
	}
	if doc := Build(outboxSources(t), Filter{Cluster: "prod"}); len(doc.Outboxes) != 0 {
		t.Errorf("a document of one cluster lists the outboxes, which belong to none: %+v", doc.Outboxes)
	}
}

func TestRenderShowsTheOutboxesAndTheOneThatCannotBeReadInRed(t *testing.T) {
	var plain, coloured bytes.Buffer
	doc := Build(outboxSources(t), Filter{})
	if err := Render(&plain, doc, false); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	for _, want := range []string{"OUTBOXES", "OLDEST PENDING", "billing  NO", "cannot be read: connect", "none seen", "orders   yes  12       4s              3s ago"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	Render(&coloured, doc, true)
	if !strings.Contains(coloured.String(), red+"cannot be read: connect"+reset) {
		t.Errorf("an outbox that cannot be read is not red:\n%q", coloured.String())
	}
	plain.Reset()
	Render(&plain, Build(sources(t), Filter{}), false)
	if strings.Contains(plain.String(), "OUTBOXES") {
		t.Errorf("an OUTBOXES table without outboxes:\n%s", plain.String())
	}
}
