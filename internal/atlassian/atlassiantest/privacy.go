package atlassiantest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/usercleanup/connect"
)

// ReportAccountsMax is the most accounts one personal data report may
// carry ("User privacy guide for app developers": up to 90 accounts per
// request).
const ReportAccountsMax = 90

// reportPath is the personal data reporting API's route, on the
// api.atlassian.com server of the fake (APIURL).
const reportPath = "POST /app/report-accounts/"

// accountState is what the privacy API knows of an account beyond the seed.
type accountState struct {
	closed    bool
	changedAt time.Time // the profile changed (UpdateAccount)
}

// CloseAccount marks an account closed: every later report of it answers
// "closed".
func (c *Cloud) CloseAccount(accountID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.privacy == nil {
		c.privacy = map[string]*accountState{}
	}
	st := c.privacy[accountID]
	if st == nil {
		st = &accountState{}
		c.privacy[accountID] = st
	}
	st.closed = true
}

// UpdateAccount changes an account's name and e-mail address in the
// directory at time at: a report with an updatedAt before at answers
// "updated". It reports whether the account exists.
func (c *Cloud) UpdateAccount(accountID, name, email string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.byID[accountID]
	if !ok {
		return false
	}
	c.users[i].name, c.users[i].email = name, email
	if c.privacy == nil {
		c.privacy = map[string]*accountState{}
	}
	st := c.privacy[accountID]
	if st == nil {
		st = &accountState{}
		c.privacy[accountID] = st
	}
	st.changedAt = at
	return true
}

// SetReportCycle sets the Cycle-Period header of the reporting API's
// answers ("" sends none).
func (c *Cloud) SetReportCycle(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cycle = v
}

// ReportedAccount is one account of a personal data report the fake
// received.
type ReportedAccount struct {
	ClientKey string // the installation whose shared secret signed the report
	Request   int    // 1-based number of the request that carried it
	AccountID string
	UpdatedAt time.Time
}

// Reports returns every account reported so far, in order.
func (c *Cloud) Reports() []ReportedAccount {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ReportedAccount(nil), c.reported...)
}

type reportBody struct {
	Accounts []struct {
		AccountID string `json:"accountId"`
		UpdatedAt string `json:"updatedAt"`
	} `json:"accounts"`
}

// reportAccounts is POST /app/report-accounts/, as the user privacy guide
// documents it: a body of up to 90 {accountId, updatedAt (ISO 8601)}; 200
// with {"accounts": [{"accountId", "status": "closed"|"updated"}]} listing
// only the accounts that need action, 204 when none does; 400 for a
// malformed body or more than 90 accounts; 429 (the middleware's faults and
// rate limit) with Retry-After. The guide documents a Cycle-Period header
// without its unit; the fake sends what SetReportCycle set.
//
// Authentication is not documented for Connect apps beyond "use JWTs"
// (Atlassian's answer on the developer community): the fake requires a
// Connect JWT signed with the shared secret of an installation of the app
// (iss = app key) on any of its sites, with the qsh of this request and no
// context path. That is an inference, not a documented contract.
func (c *Cloud) reportAccounts(w http.ResponseWriter, r *http.Request) {
	c.count(reportPath)
	clientKey, err := c.verifyAppJWT(r)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": err.Error()})
		return
	}
	var body reportBody
	if !decodeBody(w, r, &body) {
		return
	}
	switch {
	case len(body.Accounts) == 0:
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "accounts must not be empty"})
		return
	case len(body.Accounts) > ReportAccountsMax:
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400,
			"message": fmt.Sprintf("at most %d accounts may be reported per request, got %d", ReportAccountsMax, len(body.Accounts))})
		return
	}
	type status struct {
		AccountID string `json:"accountId"`
		Status    string `json:"status"`
	}
	var out []status
	c.mu.Lock()
	c.reports++
	req := c.reports
	for _, a := range body.Accounts {
		at, err := time.Parse(time.RFC3339Nano, a.UpdatedAt)
		if a.AccountID == "" || err != nil {
			c.mu.Unlock()
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "each account needs an accountId and an ISO 8601 updatedAt"})
			return
		}
		c.reported = append(c.reported, ReportedAccount{ClientKey: clientKey, Request: req, AccountID: a.AccountID, UpdatedAt: at})
		st := c.privacy[a.AccountID]
		switch {
		case st == nil:
		case st.closed:
			out = append(out, status{a.AccountID, "closed"})
		case st.changedAt.After(at):
			out = append(out, status{a.AccountID, "updated"})
		}
	}
	cycle := c.cycle
	c.mu.Unlock()
	if cycle != "" {
		w.Header().Set("Cycle-Period", cycle)
	}
	if len(out) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": out})
}

// verifyAppJWT checks the Connect JWT of a request to api.atlassian.com and
// returns the client key of the installation whose secret signed it.
func (c *Cloud) verifyAppJWT(r *http.Request) (string, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "JWT") || tok == "" {
		return "", errors.New("missing JWT authorization")
	}
	var unverified qshClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &unverified); err != nil {
		return "", errors.New("malformed JWT")
	}
	want, err := connect.QueryStringHash(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, "")
	if err != nil {
		return "", errors.New("cannot canonicalise request")
	}
	for _, s := range c.sites {
		s.mu.Lock()
		inst, ok := s.apps[unverified.Issuer]
		s.mu.Unlock()
		if !ok {
			continue
		}
		var claims qshClaims
		_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return []byte(inst.secret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(jwtLeeway),
			jwt.WithTimeFunc(c.now), jwt.WithIssuer(unverified.Issuer))
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(claims.QSH)) != 1 {
			return "", errors.New("JWT qsh does not match the request")
		}
		return inst.clientKey, nil
	}
	return "", errors.New("JWT is not signed by an installation of the app")
}
