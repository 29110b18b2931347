package cleanup

import (
	"context"
	"fmt"
)

// export generates the exports and finishes the run.
func (s *step) export(ctx context.Context) (StepResult, error) {
	if s.e.cfg.Exporter != nil {
		if err := s.e.cfg.Exporter.GenerateRunExports(ctx, s.run.ClientKey, s.run.ID); err != nil {
			if KindOf(err) == KindUnavailable || ctx.Err() != nil {
				return StepResult{}, err
			}
			return StepResult{}, fmt.Errorf("generate exports: %w", err)
		}
	}
	if err := s.e.cfg.Store.FinishRun(ctx, s.run.ClientKey, s.run.ID, s.owner, "", "", s.e.now().UTC()); err != nil {
		return StepResult{}, storeErr("finish run", err)
	}
	s.e.finished(ctx, s.run)
	return StepResult{Done: true}, nil
}
