package entra

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// Retry policy for throttled sub-requests of a $batch (the SDK's retry
// handler only sees the outer POST, which Graph answers 200).
const (
	maxAttempts    = 8                // sends per sub-request, including the first
	backoffBase    = time.Second      // without Retry-After: 1 s, 2 s, 4 s, …
	backoffMax     = 60 * time.Second // cap for the exponential backoff
	retryAfterMax  = 5 * time.Minute  // cap for a server-sent Retry-After
	maxSubRequests = maxBatch
)

// subResult is Graph's answer to one sub-request of a $batch.
type subResult struct {
	Status  int
	Headers map[string]string
	Body    []byte // JSON or empty
	Tries   int
}

// graphErr returns the error code and message of a failed sub-request.
func (r subResult) graphErr() graphErr {
	g := graphErr{Status: r.Status}
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if len(r.Body) > 0 && json.Unmarshal(r.Body, &b) == nil {
		g.Code, g.Message = b.Error.Code, b.Error.Message
	}
	return g
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// header returns a header of a sub-response, matching the name
// case-insensitively (Graph sends "Retry-After", proxies may not).
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// retryDelay is how long to wait before resending a sub-request that was
// answered with a retryable status on its n-th attempt (n ≥ 1).
func retryDelay(h map[string]string, n int, now time.Time) time.Duration {
	if v := strings.TrimSpace(header(h, "Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return min(time.Duration(secs*float64(time.Second)), retryAfterMax)
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(t.Sub(now), 0), retryAfterMax)
		}
	}
	d := backoffBase << min(n-1, 16)
	return min(d, backoffMax)
}

// runBatch sends reqs in $batch requests of at most 20 (fewer when the write
// limiter's burst is smaller), resends throttled sub-requests after their
// Retry-After, and calls done exactly once per request that got a final
// answer (a retryable status is final after maxAttempts). For writes, every
// sub-request sent (retries included) takes a token from the write limiter.
// On error (ctx done, the batch POST itself failed) the requests without an
// answer are simply not reported: their outcome is unknown.
func (c *Client) runBatch(ctx context.Context, what string, reqs []*abs.RequestInformation, write bool, done func(i int, r subResult)) error {
	size := maxSubRequests
	if write {
		size = min(size, c.limiter.Burst())
	}
	queue := make([]int, len(reqs))
	for i := range queue {
		queue[i] = i
	}
	tries := make([]int, len(reqs))
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		chunk := queue[:min(size, len(queue))]
		if write {
			if err := c.limiter.Wait(ctx, len(chunk)); err != nil {
				return fmt.Errorf("%s: wait for the write limit: %w", what, err)
			}
		}
		batch := msgraphcore.NewBatchRequest(c.adapter)
		byID := make(map[string]int, len(chunk))
		for _, i := range chunk {
			item, err := batch.AddBatchRequestStep(*reqs[i])
			if err != nil {
				return fmt.Errorf("%s: add batch step: %w", what, err)
			}
			byID[*item.GetId()] = i
		}
		resp, err := batch.Send(ctx, c.adapter)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", what, ctx.Err())
			}
			return graphError(what, err)
		}
		queue = queue[len(chunk):]
		var again []int
		var wait time.Duration
		for id, i := range byID {
			tries[i]++
			r := subResult{Tries: tries[i]}
			if item := resp.GetResponseById(id); item != nil && item.GetStatus() != nil {
				r.Status = int(*item.GetStatus())
				r.Headers = item.GetHeaders()
				if b := item.GetBody(); b != nil {
					if r.Body, err = json.Marshal(b); err != nil {
						return fmt.Errorf("%s: re-encode batch response body: %w", what, err)
					}
				}
			} else {
				// Graph answers every request; a missing one is resent.
				r.Status = http.StatusServiceUnavailable
			}
			if retryable(r.Status) && tries[i] < maxAttempts {
				again = append(again, i)
				wait = max(wait, retryDelay(r.Headers, tries[i], c.cfg.Now()))
				continue
			}
			done(i, r)
		}
		if len(again) > 0 {
			slices.Sort(again)
			queue = append(again, queue...)
			c.log.DebugContext(ctx, "graph batch throttled", slog.String("op", what),
				slog.Int("retry", len(again)), slog.Duration("wait", wait))
			if err := c.cfg.Sleep(ctx, wait); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	return nil
}
