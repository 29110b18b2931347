package connect_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/example/usercleanup/connect"
)

func TestHTTPStatusAndReason(t *testing.T) {
	storeDown := errors.New("store down")
	tests := []struct {
		err        error
		wantStatus int
		wantReason error
	}{
		{nil, http.StatusOK, nil},
		{connect.ErrNoToken, http.StatusUnauthorized, connect.ErrNoToken},
		{fmt.Errorf("%w: detail /secret/path", connect.ErrMalformedToken), http.StatusUnauthorized, connect.ErrMalformedToken},
		{connect.ErrBadAlgorithm, http.StatusUnauthorized, connect.ErrBadAlgorithm},
		{connect.ErrContextTokenOnPage, http.StatusUnauthorized, connect.ErrContextTokenOnPage},
		{connect.ErrComputedTokenOnAPI, http.StatusUnauthorized, connect.ErrComputedTokenOnAPI},
		{connect.ErrTenantUninstalled, http.StatusUnauthorized, connect.ErrTenantUninstalled},
		{connect.ErrAudienceMismatch, http.StatusUnauthorized, connect.ErrAudienceMismatch},
		{connect.ErrHostNotAllowed, http.StatusForbidden, connect.ErrHostNotAllowed},
		{connect.ErrBodyTooLarge, http.StatusRequestEntityTooLarge, connect.ErrBodyTooLarge},
		{fmt.Errorf("%w: json: bad", connect.ErrBadPayload), http.StatusBadRequest, connect.ErrBadPayload},
		{fmt.Errorf("%w: kid k: https://keys.example: status 404", connect.ErrKeyFetch), http.StatusServiceUnavailable, connect.ErrKeyFetch},
		{fmt.Errorf("connect: load tenant: %w", storeDown), http.StatusInternalServerError, nil},
	}
	for _, tc := range tests {
		if got := connect.HTTPStatus(tc.err); got != tc.wantStatus {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.wantStatus)
		}
		if got := connect.Reason(tc.err); got != tc.wantReason {
			t.Errorf("Reason(%v) = %v, want %v", tc.err, got, tc.wantReason)
		}
	}
}
