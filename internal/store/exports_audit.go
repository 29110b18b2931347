package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/example/usercleanup/internal/cleanup"
)

// Parallel reading of a run's audit rows (AuditRows): the run's id range
// is cut into chunks of at most auditChunkIDs ids, auditReadWorkers
// goroutines read every auditReadWorkers-th chunk each on their own
// connection (SQLite's WAL and PostgreSQL both let readers run side by
// side), and Next hands the rows out strictly in chunk order, so the
// result is the rows in id order as one reader would give them.
//
// Why: reading and converting a row (the database's work and the
// scanning) costs more than formatting it, and a download should use the
// cores the machine has. Memory is bounded: each worker fills at most
// auditChunksAhead chunks ahead of Next. A failure of any worker is
// returned by Next when its chunk comes up: the chunks before it were all
// handed out, none of its rows or any later chunk's are. Close (or the
// end of the context AuditRows was given) stops every worker.
const (
	auditReadWorkers = 2
	auditChunkIDs    = 2048
	auditChunksAhead = 2
)

// auditChunkReader reads the run's rows with after < id ≤ upTo, in id
// order, into users (at most len(users) rows), on one worker's
// connection.
type auditChunkReader interface {
	readChunk(ctx context.Context, after, upTo int64, users []cleanup.AffectedUser) (int, error)
	close()
}

// auditChunk is the rows of one id chunk, or the error reading it.
type auditChunk struct {
	users []cleanup.AffectedUser
	n     int
	err   error
}

// auditRowsCursor is the cleanup.AuditCursor of AuditRows.
type auditRowsCursor struct {
	run     cleanup.ExportRun
	width   int64 // ids per chunk
	first   int64 // the run's first id
	nChunks int
	filled  []chan *auditChunk // per worker: its chunks, in order
	free    []chan *auditChunk // per worker: chunks Next is done with
	next    int                // the chunk Next reads from
	cur     *auditChunk        // the chunk being handed out, nil between chunks
	pos     int                // the next row of cur
	err     error              // the failure Next returned; it keeps returning it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startAuditRows starts one worker per reader over nChunks chunks of
// width ids from first. The workers live until Close or the end of ctx.
func startAuditRows(ctx context.Context, run cleanup.ExportRun, first, width int64, nChunks int, readers []auditChunkReader) *auditRowsCursor {
	c := &auditRowsCursor{run: run, width: width, first: first, nChunks: nChunks}
	for range readers {
		filled, free := make(chan *auditChunk, auditChunksAhead), make(chan *auditChunk, auditChunksAhead)
		for range auditChunksAhead {
			free <- newAuditChunk(int(width))
		}
		c.filled, c.free = append(c.filled, filled), append(c.free, free)
	}
	wctx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	for w, r := range readers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer r.close()
			c.work(wctx, w, len(readers), r)
		}()
	}
	return c
}

func newAuditChunk(rows int) *auditChunk {
	ch := &auditChunk{users: make([]cleanup.AffectedUser, rows)}
	for i := range ch.users {
		ch.users[i].LastActive = make(map[string]time.Time, 4)
	}
	return ch
}

// work reads chunks w, w+workers, w+2·workers … in order, until the last,
// a failure, or the end of ctx.
func (c *auditRowsCursor) work(ctx context.Context, w, workers int, r auditChunkReader) {
	for k := w; k < c.nChunks; k += workers {
		var ch *auditChunk
		select {
		case ch = <-c.free[w]:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil { // both cases of the select may have been ready
			return
		}
		after := c.first - 1 + int64(k)*c.width
		ch.n, ch.err = r.readChunk(ctx, after, after+c.width, ch.users)
		select {
		case c.filled[w] <- ch:
		case <-ctx.Done():
			return
		}
		if ch.err != nil {
			return
		}
	}
}

// Next implements cleanup.AuditCursor.
func (c *auditRowsCursor) Next(ctx context.Context, users []cleanup.AffectedUser) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n := 0
	for n < len(users) {
		if c.cur == nil {
			if c.next == c.nChunks {
				break
			}
			select {
			case c.cur = <-c.filled[c.next%len(c.filled)]:
			case <-ctx.Done():
				c.err = ctx.Err()
				return n, c.err
			}
			if c.cur.err != nil {
				c.err = fmt.Errorf("store: read audit rows of run %d: %w", c.run.ID, c.cur.err)
				return n, c.err
			}
			c.pos = 0
		}
		// Hand the rows over by swapping them with the caller's: the
		// caller gets the filled row, the chunk the caller's memory.
		for c.pos < c.cur.n && n < len(users) {
			users[n], c.cur.users[c.pos] = c.cur.users[c.pos], users[n]
			c.pos++
			n++
		}
		if c.pos == c.cur.n {
			c.free[c.next%len(c.free)] <- c.cur // never blocks: the chunk came from there
			c.cur = nil
			c.next++
		}
	}
	return n, nil
}

// Close implements cleanup.AuditCursor: it stops the workers and waits
// for them to release their connections.
func (c *auditRowsCursor) Close() error {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
		c.cancel = nil
	}
	return nil
}
