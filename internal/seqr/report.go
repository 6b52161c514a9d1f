package seqr

import (
	"fmt"
	"strings"

	"github.com/posd/posd/internal/money"
	"github.com/posd/posd/internal/soap"
)

// XML returns the report document: contentString when the server sent it,
// else the decoded content.
func (r Report) XML() []byte {
	if r.ContentString != "" {
		return []byte(r.ContentString)
	}
	return r.Content
}

// ReconReport is a reconciliation report document (spec 5.6): a root such as
// TransactionDetails holding one <Meta> and any number of <Row>. Fields are
// kept as text by element name; amounts have 5 decimals ("93.31000") and are
// read exactly with Amount.
type ReconReport struct {
	Root string
	Meta map[string]string
	Rows []map[string]string
}

// ParseReconReport reads a reconciliation report document.
func ParseReconReport(doc []byte) (ReconReport, error) {
	root, err := soap.Document(doc)
	if err != nil {
		return ReconReport{}, fmt.Errorf("seqr report: %w", err)
	}
	rep := ReconReport{Root: root.Local, Meta: map[string]string{}}
	for _, k := range root.Kids {
		switch k.Local {
		case "Meta":
			rep.Meta = fields(k)
		case "Row":
			rep.Rows = append(rep.Rows, fields(k))
		}
	}
	return rep, nil
}

func fields(n *soap.Node) map[string]string {
	m := make(map[string]string, len(n.Kids))
	for _, k := range n.Kids {
		m[k.Local] = strings.TrimSpace(k.Text)
	}
	return m
}

// Amount reads the amount field of row i exactly.
func (r ReconReport) Amount(i int, field string) (money.Amount, error) {
	if i < 0 || i >= len(r.Rows) {
		return 0, fmt.Errorf("seqr report: row %d of %d", i+1, len(r.Rows))
	}
	s, ok := r.Rows[i][field]
	if !ok {
		return 0, fmt.Errorf("seqr report: row %d has no %s", i+1, field)
	}
	a, err := money.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("seqr report: row %d %s: %w", i+1, field, err)
	}
	return a, nil
}
