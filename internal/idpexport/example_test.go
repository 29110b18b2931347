package idpexport_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/example/usercleanup/internal/idpexport"
)

type bufferCloser struct{ *bytes.Buffer }

func (bufferCloser) Close() error { return nil }

// A store streams one group's members, sorted by lower(email), into an
// EntraWriter; refused identifiers are recorded as "needs manual action".
func ExampleEntraWriter() {
	files := map[int]*bytes.Buffer{}
	open := func(part int) (io.WriteCloser, error) {
		files[part] = new(bytes.Buffer)
		return bufferCloser{files[part]}, nil
	}
	names := idpexport.FileNames{GroupName: "jira-users", RunDate: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}
	w, err := idpexport.NewEntraWriter(open, names, idpexport.EntraOptions{MaxRowsPerFile: 2})
	if err != nil {
		panic(err)
	}
	for _, email := range []string{"alice@contoso.com", "Alice@Contoso.com", "bob@contoso.com", "bob,jr@contoso.com", "carol@contoso.com"} {
		var refused *idpexport.IdentifierError
		switch err := w.Write(email); {
		case errors.As(err, &refused):
			fmt.Printf("manual action for %s: %s\n", refused.Identifier, refused.Problem)
		case err != nil:
			panic(err)
		}
	}
	parts, err := w.Finish()
	if err != nil {
		panic(err)
	}
	for _, p := range parts {
		body := strings.TrimPrefix(files[p.Part].String(), "\uFEFF"+idpexport.EntraMemberHeader+"\r\n")
		fmt.Printf("%s: %d rows %q\n", p.FileName, p.Rows, body)
	}
	// Output:
	// manual action for bob,jr@contoso.com: the identifier contains a comma, quote or semicolon, which the Entra CSV cannot carry
	// jira-users-2026-11-28-remove-members-part1.csv: 2 rows "alice@contoso.com\r\nbob@contoso.com\r\n"
	// jira-users-2026-11-28-remove-members-part2.csv: 1 rows "carol@contoso.com\r\n"
}
